#!/usr/bin/python3
"""A generated hostile corpus (hostile.py: ~300 broken GGUF, safetensors, index and config files,
8 GiB sparse files whose counts fill them) mounted beside good models: the mount comes up, every
bad file is listed in .weightfs/models with file, offset and reason, every good model is still
served byte-exactly in every view, and the daemon's memory stays bounded."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402
from harness import DATA, WEIGHTFS, Mount, status  # noqa: E402

REPACK = os.path.join(DATA, "gguf", "repack")
FP8 = os.path.join(DATA, "fp8")
LAYERS = os.path.join(DATA, "layers")
# The daemon's memory is linear in the largest header it scans: its text and its parsed entries
# (about 3x, 4x with MALLOC_PERTURB_ keeping freed pages resident) beside a fixed 64 MiB. The
# corpus's largest is a 48 MB safetensors JSON of 700,000 entries (a JSON DOM of it alone took
# 520 MiB, a GGUF count of 2^28 would have taken gigabytes). Under AddressSanitizer (shadow
# memory, quarantined frees) the bound is 3x that.
def rss_bound_kib(largest_header):
    asan = b"libasan" in subprocess.run(["ldd", WEIGHTFS], capture_output=True).stdout
    return (4 * largest_header + (64 << 20)) * (3 if asan else 1) >> 10


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def daemon_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class HostileCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="weightfs-hostile-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)  # even when the set-up fails
        cls.src = os.path.join(cls.tmp, "src")
        os.mkdir(cls.src)
        cls.bad, _ = hostile.generate(os.path.join(cls.src, "hostile"))
        cls.bad = ["hostile/" + p for p in cls.bad]
        # Good models beside it, with their reference outputs.
        good = os.path.join(cls.src, "good")
        os.makedirs(good)
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"), good)
        shutil.copytree(os.path.join(FP8, "deepseek-tiny"), os.path.join(good, "deepseek-tiny"))
        shutil.copytree(os.path.join(LAYERS, "llama-tiny"), os.path.join(good, "llama-tiny"))
        cls.expected = {
            "concat/good/tiny-llama-Q4_0.gguf": os.path.join(REPACK, "tiny-llama-Q4_0.gguf"),
            "r4/good/tiny-llama-Q4_0.gguf": os.path.join(REPACK, "tiny-llama-Q4_0-r4.gguf"),
            "concat/hostile/gguf/good.gguf": os.path.join(cls.src, "hostile", "gguf", "good.gguf"),
        }
        for view, name, exp in (("bf16", "deepseek-tiny", os.path.join(FP8, "deepseek-tiny.expected")),
                                ("layers", "llama-tiny", os.path.join(LAYERS, "llama-tiny.expected"))):
            for d, _, files in os.walk(exp):
                for f in files:
                    rel = os.path.relpath(os.path.join(d, f), exp)
                    cls.expected[f"{view}/good/{name}/{rel}"] = os.path.join(d, f)
        cls.sums = {}
        for d, _, files in os.walk(cls.src):
            for f in files:
                p = os.path.join(d, f)
                if os.path.getsize(p) < (1 << 30):  # the 8 GiB sparse files are checked by size
                    cls.sums[p] = digest(p)
        cls.m = Mount(cls.src, "cache=64M", expect_errors=True)
        cls.m.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.m.__exit__(None, None, None)
        after = {p: digest(p) for p in cls.sums}
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert after == cls.sums, "SOURCE changed under the mount"

    def skipped(self):
        with open(self.m.path(".weightfs/models")) as f:
            return [line.split("\t") for line in f.read().splitlines() if line.startswith("skipped\t")]

    def test_the_corpus_is_large_and_generated(self):
        self.assertGreater(len(self.bad), 250)

    def test_every_bad_file_is_listed_with_offset_and_reason(self):
        rows = self.skipped()
        missing = []
        for p in self.bad:
            hits = [r for r in rows if r[2].startswith(p) or p in r[4]]
            if not hits:
                missing.append(p)
                continue
            for r in hits:
                self.assertEqual(len(r), 5, r)
                self.assertGreaterEqual(int(r[3]), 0)
                self.assertTrue(r[4].strip(), r)
        self.assertEqual(missing, [], "bad files the mount did not list")

    def test_reasons_are_specific(self):
        text = "\n".join("\t".join(r) for r in self.skipped())
        for needle in ("truncated", "exceeds the 1 GiB limit", "exceeds the 2^30 element limit",
                       "impossible within", "unknown ggml type id 4", "unknown ggml type id 1000",
                       "unknown value type 13", "nested arrays", "(at most 63 allowed)", "duplicate tensor name",
                       "duplicate key", "tensors must be contiguous", "element count overflows",
                       "is not a whole number of Q4_0 blocks", "n_dims 5", "bad magic", "unsupported GGUF version 4",
                       "not a power of two", "exceeds 100 MB", "unknown dtype", "shape's byte size overflows",
                       "header is not valid JSON", "header is not a JSON object", "data_offsets is not [begin, end]",
                       "appears twice", "which is not a safetensors file of this directory", "has no such tensor",
                       "no weight_map object", "not valid JSON", "tensors hold at most 0 layers"):
            self.assertIn(needle, text)

    def test_no_hostile_model_is_shown_in_a_view(self):
        with open(self.m.path(".weightfs/models")) as f:
            shown = [line.split("\t")[1] for line in f.read().splitlines() if line.startswith("shown\t")]
        for path in shown:
            view, _, rel = path.partition("/")
            if view == "concat":
                continue  # concat/ mirrors every file of SOURCE as it is
            if rel.startswith("hostile/gguf/") and "good" not in rel:
                self.fail(f"{path} is shown")
            if rel.startswith("hostile/st/") and not rel.startswith("hostile/st/good/"):
                self.fail(f"{path} is shown")

    def test_good_models_are_served_byte_exactly(self):
        for path, ref in sorted(self.expected.items()):
            with open(self.m.path(path), "rb") as got, open(ref, "rb") as want:
                self.assertEqual(got.read(), want.read(), path)

    def test_daemon_memory_is_bounded(self):
        pid = self.m.proc.pid
        largest = os.path.getsize(os.path.join(self.src, "hostile", "st", "json-huge", "model.safetensors"))
        self.assertGreater(largest, 40 << 20)
        self.assertLess(daemon_kib(pid, "VmHWM"), rss_bound_kib(largest), "peak RSS while scanning the corpus")
        self.assertEqual(int(status(self.m.mnt)["read_errors"]), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)

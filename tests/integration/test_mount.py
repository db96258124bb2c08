#!/usr/bin/python3
"""Integration tests: weightfs mounted for real (directly, through mount -t fuse.weightfs, and
from an fstab), every test vector compared byte for byte through the mount with sequential,
random-offset, mmap, O_DIRECT and concurrent reads; read-only behaviour, xattrs, status files,
start-up failures, signals and hugepage give-back."""
import errno
import hashlib
import json
import mmap
import os
import random
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DATA, SLOWDOWN, WEIGHTFS, Mount, count_mounts, meminfo, mounted, status, unmount, wait_mounted  # noqa: E402

SPLIT = os.path.join(DATA, "gguf", "split")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_direct(path):
    """The whole file read through an O_DIRECT open, into a page-aligned buffer as O_DIRECT wants."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 4 << 20)
        got = bytearray()
        while n := os.readv(fd, [buf]):
            got += buf[:n]
        return bytes(got)
    finally:
        os.close(fd)


def sha(path):
    return hashlib.sha256(read_bytes(path)).hexdigest()


def make_source(root):
    """A SOURCE tree with every kind of input; returns {view path: expected bytes file}."""
    expected = {}
    for name in sorted(os.listdir(SPLIT)):
        if "-of-" not in name:
            continue
        sub = "" if name.startswith("tiny-llama") else "sub dir/"
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        shutil.copy(os.path.join(SPLIT, name), os.path.join(root, sub, name))
    expected["concat/tiny-llama-Q4_K_S.gguf"] = os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf")
    expected["concat/sub dir/tiny-qwen3moe-Q4_K_M.gguf"] = os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf")

    # Raw part sets of a whole GGUF, in the three naming schemes; joined they are the original.
    whole = os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.merged-ik.gguf")
    data = read_bytes(whole)
    os.makedirs(os.path.join(root, "raw"))
    cuts = [0, 333333, 900001, len(data)]
    for k in range(3):
        part = data[cuts[k]:cuts[k + 1]]
        for name in (f"model.gguf.part{k + 1}of3", f"w.bin.{k + 1:03d}", "x.bin.a" + "abc"[k]):
            with open(os.path.join(root, "raw", name), "wb") as f:
                f.write(part)
    for joined in ("model.gguf", "w.bin", "x.bin"):
        expected[f"concat/raw/{joined}"] = whole

    # Plain files, an odd name, a broken GGUF, a symlink out of SOURCE.
    shutil.copy(os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf"), os.path.join(root, "single.gguf"))
    expected["concat/single.gguf"] = os.path.join(root, "single.gguf")
    with open(os.path.join(root, "modèle ✓ notes.txt"), "w") as f:
        f.write("plain text\n" * 1000)
    expected["concat/modèle ✓ notes.txt"] = os.path.join(root, "modèle ✓ notes.txt")
    with open(os.path.join(root, "broken.gguf"), "wb") as f:
        f.write(data[:5000])
    os.symlink("/etc/hostname", os.path.join(root, "escape.txt"))
    return expected


def assert_served(tc, mount, expected, seed, max_len=100000, reads=100, readers=4):
    """Every file in `expected` ({mount path: reference file}) byte-identical through the mount:
    whole sequential read, random-offset preads, mmap, and `readers` concurrent readers."""
    rng = random.Random(seed)
    for path, ref_file in expected.items():
        want = read_bytes(ref_file)
        tc.assertEqual(os.path.getsize(mount.path(path)), len(want), path)
        tc.assertTrue(read_bytes(mount.path(path)) == want, f"{path}: sequential read differs")
        if not want:
            continue
        fd = os.open(mount.path(path), os.O_RDONLY)
        try:
            for _ in range(reads):
                off = rng.randrange(len(want))
                n = rng.randrange(1, max_len)
                tc.assertEqual(os.pread(fd, n, off), want[off:off + n], f"{path} at {off}+{n}")
        finally:
            os.close(fd)
        with open(mount.path(path), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            tc.assertTrue(mm[:] == want, f"{path}: mmap differs")
    errors = []

    def reader(k):
        for path, ref_file in sorted(expected.items(), key=lambda _: random.Random(seed + k).random()):
            if read_bytes(mount.path(path)) != read_bytes(ref_file):
                errors.append(path)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(readers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    tc.assertEqual(errors, [], "concurrent readers saw different bytes")


class MountedViews(unittest.TestCase):
    """One mount shared by a class's tests: subclasses fill cls.src (created empty) and
    cls.expected in prepare(); the mount uses cls.options."""
    options = "cache=64M,chunk=64K"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=f"weightfs-{cls.__name__.lower()}-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)  # even when the set-up fails
        cls.src = os.path.join(cls.tmp, "src")
        os.mkdir(cls.src)
        cls.expected = {}
        cls.prepare()
        cls.m = Mount(cls.src, cls.options)
        cls.m.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.m.__exit__(None, None, None)
        shutil.rmtree(cls.tmp)


class ConcatView(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="weightfs-src-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)  # even when the set-up fails
        cls.src = os.path.join(cls.tmp, "models")
        os.mkdir(cls.src)
        cls.expected = make_source(cls.src)
        cls.source_sums = {p: sha(os.path.join(d, n)) for d, _, ns in os.walk(cls.src) for n in ns
                           for p in [os.path.join(d, n)] if not os.path.islink(p)}
        cls.m = Mount(cls.src, "cache=64M,chunk=256K", expect_errors=False)
        cls.m.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.m.__exit__(None, None, None)
        after = {p: sha(p) for p in cls.source_sums}
        assert after == cls.source_sums, "SOURCE changed under a read-only mount"
        shutil.rmtree(cls.tmp)

    def test_listing_and_exact_sizes(self):
        top = sorted(os.listdir(self.m.mnt))
        self.assertEqual(top, [".weightfs", "bf16", "concat", "layers", "llama2c", "r4"])
        for path, ref in self.expected.items():
            self.assertEqual(os.stat(self.m.path(path)).st_size, os.path.getsize(ref), path)
        listing = sorted(os.listdir(self.m.path("concat")))
        self.assertIn("single.gguf", listing)
        self.assertNotIn("broken.gguf", listing)
        self.assertNotIn("escape.txt", listing)
        self.assertNotIn("tiny-llama-Q4_K_S-00001-of-00005.gguf", listing)

    def test_sequential_reads_are_byte_identical(self):
        for path, ref in self.expected.items():
            want = read_bytes(ref)
            for bs in (4096, 1 << 20, 7919):
                got = bytearray()
                with open(self.m.path(path), "rb", buffering=0) as f:
                    while chunk := f.read(bs):
                        got += chunk
                self.assertTrue(got == want, f"{path} read with bs={bs} differs")

    def test_cmp(self):
        for path, ref in self.expected.items():
            r = subprocess.run(["cmp", self.m.path(path), ref], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_random_offset_reads(self):
        rng = random.Random(3)
        for path, ref in self.expected.items():
            want = read_bytes(ref)
            fd = os.open(self.m.path(path), os.O_RDONLY)
            try:
                for _ in range(300):
                    off = rng.randrange(len(want))
                    n = rng.randrange(1, 300000)
                    self.assertEqual(os.pread(fd, n, off), want[off:off + n], f"{path} at {off}+{n}")
                self.assertEqual(os.pread(fd, 100, len(want)), b"")
            finally:
                os.close(fd)

    def test_mmap(self):
        for path, ref in self.expected.items():
            want = read_bytes(ref)
            with open(self.m.path(path), "rb") as f:
                with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                    self.assertEqual(len(mm), len(want))
                    self.assertTrue(mm[:] == want, path)
                    for off in random.Random(5).sample(range(len(want)), 50):
                        self.assertEqual(mm[off], want[off])

    def test_o_direct(self):
        for path, ref in self.expected.items():
            self.assertTrue(read_direct(self.m.path(path)) == read_bytes(ref), path)

    def test_several_readers_at_once(self):
        path = "concat/sub dir/tiny-qwen3moe-Q4_K_M.gguf"
        want = read_bytes(self.expected[path])
        errors = []

        def reader(seed):
            rng = random.Random(seed)
            try:
                for _ in range(3):
                    with open(self.m.path(path), "rb", buffering=0) as f:
                        got = bytearray()
                        while chunk := f.read(rng.choice([4096, 65536, 1 << 20])):
                            got += chunk
                    if got != want:
                        errors.append(f"reader {seed}: bytes differ")
                fd = os.open(self.m.path(path), os.O_RDONLY)
                for _ in range(100):
                    off = rng.randrange(len(want))
                    if os.pread(fd, 50000, off) != want[off:off + 50000]:
                        errors.append(f"reader {seed}: pread at {off} differs")
                os.close(fd)
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_read_only(self):
        f = self.m.path("concat/single.gguf")
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
            with self.assertRaises(OSError) as cm:
                os.open(f, flags)
            self.assertEqual(cm.exception.errno, errno.EROFS)
        ops = [
            lambda: os.open(self.m.path("concat/new"), os.O_CREAT | os.O_WRONLY, 0o644),
            lambda: os.mkdir(self.m.path("concat/d")),
            lambda: os.unlink(f),
            lambda: os.rename(f, self.m.path("concat/x")),
            lambda: os.truncate(f, 0),
            lambda: os.chmod(f, 0o777),
            lambda: os.setxattr(f, "user.x", b"1"),
            lambda: os.symlink("x", self.m.path("concat/l")),
        ]
        for op in ops:
            with self.assertRaises(OSError) as cm:
                op()
            self.assertEqual(cm.exception.errno, errno.EROFS)

    def test_xattrs(self):
        f = self.m.path("concat/tiny-llama-Q4_K_S.gguf")
        self.assertEqual(os.getxattr(f, "user.weightfs.view"), b"concat")
        sources = os.getxattr(f, "user.weightfs.source").decode().split("\n")
        self.assertEqual(len(sources), 5)
        self.assertTrue(sources[0].endswith("/models/tiny-llama-Q4_K_S-00001-of-00005.gguf"), sources[0])
        self.assertEqual(sorted(os.listxattr(f)), ["user.weightfs.source", "user.weightfs.view"])
        with self.assertRaises(OSError) as cm:
            os.getxattr(f, "user.nothing")
        self.assertEqual(cm.exception.errno, errno.ENODATA)

    def test_stable_inodes(self):
        a = {p: os.stat(self.m.path(p)).st_ino for p in self.expected}
        self.assertEqual(len(set(a.values())), len(a))
        b = {p: os.stat(self.m.path(p)).st_ino for p in self.expected}
        self.assertEqual(a, b)
        with Mount(self.src, "cache=64M") as m2:
            c = {p: os.stat(m2.path(p)).st_ino for p in self.expected}
        self.assertEqual(a, c, "inode numbers changed across a remount")

    def test_models_file_lists_skipped_files_with_offset_and_reason(self):
        text = read_bytes(self.m.path(".weightfs/models")).decode()
        self.assertIn("shown\tconcat/tiny-llama-Q4_K_S.gguf\t770048\tGGUF merged from 5 shards", text)
        self.assertIn("shown\tconcat/raw/model.gguf\t", text)
        broken = [l for l in text.splitlines() if "\tbroken.gguf\t" in l]
        self.assertEqual(len(broken), 1, text)
        _, where, _, offset, reason = broken[0].split("\t")
        self.assertEqual(where, "catalog")
        self.assertGreater(int(offset), 0)
        self.assertIn("truncated", reason)
        self.assertTrue(any("escape.txt" in l and "leaves SOURCE" in l for l in text.splitlines()), text)

    def test_readahead_is_raised_once_init_is_done(self):
        # The kernel clamps the bdi's readahead to 128 KiB when it processes INIT; weightfs raises
        # it at the first open so page-cache readers arrive in 1 MiB requests.
        with open(self.m.path("concat/single.gguf"), "rb") as f:
            f.read(1)
        dev = os.stat(self.m.mnt).st_dev
        with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb") as f:
            self.assertEqual(int(f.read()), 4096)

    def test_status_reports_cache_pages_numa_and_open_files(self):
        with open(self.m.path("concat/single.gguf"), "rb") as f:
            f.read(1000)
            st = status(self.m.mnt)
            text = read_bytes(self.m.path(".weightfs/status")).decode()
        self.assertIn(st["page_kind"], ("hugetlb-2M", "thp", "4k"))
        self.assertTrue(st["numa"].startswith("interleave (kernel: interleave"), st["numa"])
        self.assertEqual(int(st["chunk_size"]), 256 << 10)
        self.assertGreater(int(st["cache_budget"].split()[0]), 0)
        self.assertIn("open: /concat/single.gguf x1", text)
        # concat/ copies its source unchanged: sent from the source's pages, not filled into the cache.
        self.assertEqual(st["verbatim"], "mapped")
        self.assertGreater(int(st["mapped_reads"]), 0)
        self.assertEqual(int(st["fills"]), 0)


FP8 = os.path.join(DATA, "fp8")


class Bf16View(MountedViews):
    """bf16/ on the FP8 vector (sharded, with an index) and on a single-file checkpoint built here."""

    @classmethod
    def prepare(cls):
        from st_util import read as st_read, write as st_write
        shutil.copytree(os.path.join(FP8, "deepseek-tiny"), os.path.join(cls.src, "deepseek-tiny"))
        exp = os.path.join(FP8, "deepseek-tiny.expected")
        cls.expected = {f"bf16/deepseek-tiny/{n}": os.path.join(exp, n) for n in os.listdir(exp)}
        # A single-file checkpoint: every source tensor in one model.safetensors, no index; its
        # expected BF16 form holds the expected shards' tensors in one file.
        single = os.path.join(cls.src, "org", "single-fp8")
        os.makedirs(single)
        src_tensors, exp_tensors = {}, {}
        for k in (1, 2, 3):
            src_tensors.update(st_read(os.path.join(FP8, "deepseek-tiny", f"model-0000{k}-of-00003.safetensors")))
            exp_tensors.update(st_read(os.path.join(exp, f"model-0000{k}-of-00003.safetensors")))
        st_write(os.path.join(single, "model.safetensors"), src_tensors)
        shutil.copy(os.path.join(FP8, "deepseek-tiny", "config.json"), single)
        cls.single_expected = os.path.join(cls.tmp, "single-expected.safetensors")
        st_write(cls.single_expected, exp_tensors)
        cls.expected["bf16/org/single-fp8/model.safetensors"] = cls.single_expected
        cls.expected["bf16/org/single-fp8/config.json"] = os.path.join(exp, "config.json")
        # A BF16 (non-FP8) checkpoint beside them: not shown in bf16/.
        shutil.copytree(os.path.join(FP8, "deepseek-tiny.expected"), os.path.join(cls.src, "already-bf16"))
        # A checkpoint whose scale grid does not match its weight: refused and listed.
        bad = os.path.join(cls.src, "bad-grid")
        os.makedirs(bad)
        t = dict(src_tensors)
        name = "model.layers.0.self_attn.q_proj.weight_scale_inv"
        dtype, shape, blob = t[name]
        t[name] = (dtype, [shape[0] + 1, shape[1]], blob + b"\0" * (4 * shape[1]))
        st_write(os.path.join(bad, "model.safetensors"), t)
        # A checkpoint with a truncated shard: refused and listed; concat/ still has its other files.
        trunc = os.path.join(cls.src, "truncated")
        shutil.copytree(os.path.join(FP8, "deepseek-tiny"), trunc)
        shard = os.path.join(trunc, "model-00002-of-00003.safetensors")
        os.truncate(shard, os.path.getsize(shard) - 100)



    def test_listing(self):
        self.assertEqual(sorted(os.listdir(self.m.path("bf16/deepseek-tiny"))),
                         sorted(os.listdir(os.path.join(FP8, "deepseek-tiny.expected"))))
        self.assertEqual(sorted(os.listdir(self.m.path("bf16/org/single-fp8"))), ["config.json", "model.safetensors"])
        self.assertFalse(os.path.exists(self.m.path("bf16/already-bf16")))
        self.assertFalse(os.path.exists(self.m.path("bf16/bad-grid")))
        for path, ref in self.expected.items():
            self.assertEqual(os.path.getsize(self.m.path(path)), os.path.getsize(ref), path)

    def test_byte_identical_all_read_modes(self):
        assert_served(self, self.m, self.expected, seed=9)

    def test_config_without_quantization_config(self):
        got = json.loads(read_bytes(self.m.path("bf16/deepseek-tiny/config.json")))
        src = json.loads(read_bytes(os.path.join(FP8, "deepseek-tiny", "config.json")))
        src.pop("quantization_config")
        self.assertEqual(got, src)

    def test_truncated_shard_is_listed(self):
        self.assertFalse(os.path.exists(self.m.path("bf16/truncated")))
        models = read_bytes(self.m.path(".weightfs/models")).decode()
        line = [l for l in models.splitlines() if "truncated/model-00002-of-00003.safetensors" in l and l.startswith("skipped")]
        self.assertEqual(len(line), 1, models)
        self.assertIn("(truncated?)", line[0])
        self.assertGreater(int(line[0].split("\t")[3]), 0)

    def test_bad_scale_grid_is_listed(self):
        models = read_bytes(self.m.path(".weightfs/models")).decode()
        line = [l for l in models.splitlines() if l.startswith("skipped\tbf16\tbad-grid")]
        self.assertEqual(len(line), 1, models)
        self.assertIn("scale grid shape does not match", line[0])
        self.assertIn("bad-grid/model.safetensors: offset ", line[0])


class Bf16Beyond(MountedViews):
    """bf16/ beyond fp8_cast_bf16.py: compressed-tensors FP8 (per-tensor, per-channel, block
    weight_scale) and gpt-oss MXFP4, on checkpoints generated here; expected bytes from the
    Python reference in dequant_ref.py."""

    @classmethod
    def prepare(cls):
        import dequant_ref as ref
        from st_util import write as st_write
        rng = random.Random(77)
        cls.exp = os.path.join(cls.tmp, "expected")

        def rbytes(n, avoid_nan=False):
            b = bytes(rng.randrange(256) for _ in range(n))
            return bytes(x & 0xFE if avoid_nan and (x & 0x7F) == 0x7F else x for x in b)

        def f32b(*vals):
            return struct.pack("<%df" % len(vals), *vals)

        def bf16b(*vals):
            return b"".join(struct.pack("<H", ref.bf16_bits(ref.f32(v))) for v in vals)

        # compressed-tensors FP8, sharded with an index.
        ct = os.path.join(cls.src, "ct-fp8")
        os.makedirs(ct)
        os.makedirs(os.path.join(cls.exp, "ct-fp8"))
        q, k, o = rbytes(70 * 50), rbytes(33 * 40), rbytes(200 * 130)
        q_scale = [rng.uniform(1e-4, 0.05) for _ in range(70)]
        k_scale = 0.0123
        o_scale = [rng.uniform(1e-4, 0.05) for _ in range(4)]
        norm = bf16b(*[rng.uniform(-1, 1) for _ in range(50)])
        shard1 = {"layers.0.q.weight": ("F8_E4M3", [70, 50], q), "layers.0.q.weight_scale": ("BF16", [70, 1], bf16b(*q_scale)),
                  "layers.0.q.input_scale": ("F32", [1], f32b(0.5)), "norm.weight": ("BF16", [50], norm)}
        shard2 = {"layers.0.k.weight": ("F8_E4M3", [33, 40], k), "layers.0.k.weight_scale": ("F32", [], f32b(k_scale)),
                  "layers.0.o.weight": ("F8_E4M3", [200, 130], o), "layers.0.o.weight_scale": ("F32", [2, 2], f32b(*o_scale))}
        st_write(os.path.join(ct, "model-00001-of-00002.safetensors"), shard1)
        st_write(os.path.join(ct, "model-00002-of-00002.safetensors"), shard2)
        wm = {n: "model-00001-of-00002.safetensors" for n in shard1}
        wm.update({n: "model-00002-of-00002.safetensors" for n in shard2})
        json.dump({"metadata": {"total_size": 1}, "weight_map": wm}, open(os.path.join(ct, "model.safetensors.index.json"), "w"), indent=2)
        json.dump({"model_type": "llama", "quantization_config": {"quant_method": "compressed-tensors", "format": "float-quantized"}},
                  open(os.path.join(ct, "config.json"), "w"), indent=2)
        qs = [ref.scale_value("BF16", bf16b(v)) for v in q_scale]
        os_ = [ref.scale_value("F32", f32b(v)) for v in o_scale]
        e1 = {"layers.0.q.weight": ("BF16", [70, 50], ref.dequant_fp8(q, 70, 50, lambda r, c: qs[r])), "norm.weight": ("BF16", [50], norm)}
        e2 = {"layers.0.k.weight": ("BF16", [33, 40], ref.dequant_fp8(k, 33, 40, lambda r, c: ref.f32(k_scale))),
              "layers.0.o.weight": ("BF16", [200, 130], ref.dequant_fp8(o, 200, 130, lambda r, c: os_[(r // 128) * 2 + c // 128]))}
        st_write(os.path.join(cls.exp, "ct-fp8", "model-00001-of-00002.safetensors"), e1)
        st_write(os.path.join(cls.exp, "ct-fp8", "model-00002-of-00002.safetensors"), e2)
        wm2 = {n: f for n, f in wm.items() if not n.endswith(("_scale", "input_scale"))}
        with open(os.path.join(cls.exp, "ct-fp8", "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm2}, f, indent=2)
        for n in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"):
            cls.expected[f"bf16/ct-fp8/{n}"] = os.path.join(cls.exp, "ct-fp8", n)

        # gpt-oss MXFP4 (experts as _blocks/_scales), one file; exponents include the extremes.
        mx = os.path.join(cls.src, "gptoss-mxfp4")
        os.makedirs(mx)
        E, R, G = 2, 6, 3
        blocks = rbytes(E * R * G * 16)
        scales = bytes([0, 1, 255, 127] + [rng.randrange(110, 140) for _ in range(E * R * G - 4)])
        dE, dR, dG = 2, 4, 2
        dblocks, dscales = rbytes(dE * dR * dG * 16), bytes(rng.randrange(118, 135) for _ in range(dE * dR * dG))
        bias = bf16b(*[rng.uniform(-1, 1) for _ in range(E * R)])
        src_t = {"model.layers.0.mlp.experts.gate_up_proj_blocks": ("U8", [E, R, G, 16], blocks),
                 "model.layers.0.mlp.experts.gate_up_proj_scales": ("U8", [E, R, G], scales),
                 "model.layers.0.mlp.experts.gate_up_proj_bias": ("BF16", [E, R], bias),
                 "model.layers.0.mlp.experts.down_proj_blocks": ("U8", [dE, dR, dG, 16], dblocks),
                 "model.layers.0.mlp.experts.down_proj_scales": ("U8", [dE, dR, dG], dscales)}
        st_write(os.path.join(mx, "model.safetensors"), src_t)
        exp_t = {"model.layers.0.mlp.experts.gate_up_proj": ("BF16", [E, G * 32, R], ref.dequant_mxfp4(blocks, scales, E, R, G)),
                 "model.layers.0.mlp.experts.gate_up_proj_bias": ("BF16", [E, R], bias),
                 "model.layers.0.mlp.experts.down_proj": ("BF16", [dE, dG * 32, dR], ref.dequant_mxfp4(dblocks, dscales, dE, dR, dG))}
        os.makedirs(os.path.join(cls.exp, "gptoss-mxfp4"))
        st_write(os.path.join(cls.exp, "gptoss-mxfp4", "model.safetensors"), exp_t)
        cls.expected["bf16/gptoss-mxfp4/model.safetensors"] = os.path.join(cls.exp, "gptoss-mxfp4", "model.safetensors")



    def test_byte_identical_all_read_modes(self):
        assert_served(self, self.m, self.expected, seed=4, max_len=5000)

    def test_config_stripped(self):
        self.assertEqual(json.loads(read_bytes(self.m.path("bf16/ct-fp8/config.json"))), {"model_type": "llama"})


LAYERS = os.path.join(DATA, "layers")


def airllm_groups(names, tied):
    """The grouping rules of tests/data/layers/README.md, written here independently:
    {file: [tensor names]} for splitted_model/ modules and the generic files."""
    idx = sorted({int(n.split(".")[2]) for n in names if n.startswith("model.layers.") and n.split(".")[2].isdigit()})
    modules = ["model.embed_tokens"] + [f"model.layers.{i}" for i in idx] + ["model.norm", "lm_head"]
    out, placed = {}, set()
    for m in modules:
        members = [n for n in names if n.startswith(m + ".")]
        if m == "lm_head" and not members and tied:
            members = ["lm_head.weight"]
        if members:
            out[f"splitted_model/{m}.safetensors"] = members
            placed.update(members)
    out["embed.safetensors"] = out["splitted_model/model.embed_tokens.safetensors"]
    for i in idx:
        out[f"{i}.safetensors"] = out[f"splitted_model/model.layers.{i}.safetensors"]
    out["head.safetensors"] = out.get("splitted_model/model.norm.safetensors", []) + out.get("splitted_model/lm_head.safetensors", [])
    extra = [n for n in names if n not in placed]
    if extra:
        out["extra.safetensors"] = extra
    return out


class LayersView(MountedViews):
    @classmethod
    def prepare(cls):
        from st_util import read as st_read, write as st_write
        exp_root = os.path.join(cls.tmp, "expected")
        shutil.copytree(os.path.join(LAYERS, "llama-tiny"), os.path.join(cls.src, "llama-tiny"))
        exp = os.path.join(LAYERS, "llama-tiny.expected")
        for d, _, files in os.walk(exp):
            for f in files:
                rel = os.path.relpath(os.path.join(d, f), exp)
                cls.expected["layers/llama-tiny/" + rel] = os.path.join(d, f)

        def build_expected(name, tensors, tied, small_files):
            groups = airllm_groups(list(tensors), tied)
            base = os.path.join(exp_root, name)
            for rel, members in groups.items():
                os.makedirs(os.path.dirname(os.path.join(base, rel)), exist_ok=True)
                t = {}
                for m in members:
                    t[m] = tensors["model.embed_tokens.weight"] if (m == "lm_head.weight" and tied) else tensors[m]
                st_write(os.path.join(base, rel), t)
                cls.expected[f"layers/{name}/{rel}"] = os.path.join(base, rel)
                if rel.startswith("splitted_model/"):
                    open(os.path.join(base, rel + ".done"), "w").close()
                    cls.expected[f"layers/{name}/{rel}.done"] = os.path.join(base, rel + ".done")
            for rel, path in small_files.items():
                cls.expected[f"layers/{name}/{rel}"] = path

        # A tied single-file model: llama-tiny's tensors without lm_head.weight.
        tensors = {}
        for k in (1, 2):
            tensors.update(st_read(os.path.join(LAYERS, "llama-tiny", f"model-0000{k}-of-00002.safetensors")))
        tensors.pop("lm_head.weight")
        os.makedirs(os.path.join(cls.src, "tied"))
        st_write(os.path.join(cls.src, "tied", "model.safetensors"), tensors)
        build_expected("tied", tensors, True, {})
        # An FP8 checkpoint: sliced from its BF16 form (the fp8 vector's expected shards).
        shutil.copytree(os.path.join(FP8, "deepseek-tiny"), os.path.join(cls.src, "fp8"))
        bf16 = {}
        fexp = os.path.join(FP8, "deepseek-tiny.expected")
        for k in (1, 2, 3):
            bf16.update(st_read(os.path.join(fexp, f"model-0000{k}-of-00003.safetensors")))
        build_expected("fp8", bf16, "lm_head.weight" not in bf16,
                       {n: os.path.join(fexp, n) for n in ("model.safetensors.index.json", "config.json", "tokenizer.json",
                                                             "generation_config.json")})



    def test_listing_is_exactly_the_expected_tree(self):
        for model in ("llama-tiny", "tied", "fp8"):
            got = {os.path.relpath(os.path.join(d, f), self.m.path("layers/" + model))
                   for d, _, fs in os.walk(self.m.path("layers/" + model)) for f in fs}
            want = {p[len("layers/" + model) + 1:] for p in self.expected if p.startswith(f"layers/{model}/")}
            self.assertEqual(got, want, model)

    def test_byte_identical_all_read_modes(self):
        assert_served(self, self.m, self.expected, seed=12, max_len=20000, reads=50)

    def test_the_next_layer_is_warmed_while_one_is_read(self):
        """Served lazily, the first read of a layer file fills the cache with the file a layer
        runner reads next (generic 1 -> 2, AirLLM's model.layers.1 -> model.layers.2; what comes
        after those holds no FP8 weight, so it is read ahead in the source and fills nothing), so
        reading it finds every chunk ready: no miss. Layers copied unchanged from a BF16 source
        are read ahead in the source instead: no fill at all. Exact bytes throughout."""
        chunk = 64 << 10
        for first, second in (("fp8/1.safetensors", "fp8/2.safetensors"),
                              ("fp8/splitted_model/model.layers.1.safetensors", "fp8/splitted_model/model.layers.2.safetensors")):
            with Mount(self.src, f"cache=64M,chunk={chunk // 1024}K") as m:
                chunks = lambda rel: -(-os.path.getsize(m.path("layers/" + rel)) // chunk)
                self.assertEqual(read_bytes(m.path("layers/" + first)), read_bytes(self.expected["layers/" + first]))
                deadline = time.time() + 10
                while int(status(m.mnt)["fills"]) < chunks(first) + chunks(second):
                    self.assertLess(time.time(), deadline, f"{second} was not warmed: {status(m.mnt)}")
                    time.sleep(0.02)
                before = status(m.mnt)
                self.assertEqual(before["shards_ahead"], "1")
                self.assertEqual(read_bytes(m.path("layers/" + second)), read_bytes(self.expected["layers/" + second]))
                after = status(m.mnt)
                self.assertEqual(after["misses"], before["misses"], f"{second} was not all in the cache")
                self.assertGreater(int(after["hits"]), int(before["hits"]))
        with Mount(self.src, "cache=64M") as m:
            for rel in ("llama-tiny/0.safetensors", "llama-tiny/1.safetensors"):
                self.assertEqual(read_bytes(m.path("layers/" + rel)), read_bytes(self.expected["layers/" + rel]))
            st = status(m.mnt)
            self.assertEqual(st["shards_ahead"], "2")
            self.assertEqual(int(st["fills"]), 0, "unchanged layers go through no cache")


REPACK = os.path.join(DATA, "gguf", "repack")


def cpu_has_avx512_bf16():
    return "avx512_bf16" in open("/proc/cpuinfo").read()


class R4View(MountedViews):
    """r4/ against ik's own `llama-quantize --repack` outputs, every type in the table."""

    @classmethod
    def prepare(cls):
        os.makedirs(os.path.join(cls.src, "split"))
        for name in sorted(os.listdir(REPACK)):
            if name.endswith("-r4.gguf") or "-pat-" in name or name.startswith("tiny-qwen3moe"):
                continue
            shutil.copy(os.path.join(REPACK, name), cls.src)
            cls.expected[f"r4/{name}"] = os.path.join(REPACK, name[:-5] + "-r4.gguf")
        if not cpu_has_avx512_bf16():  # ik leaves BF16/F16 alone without AVX512-BF16 (repack_bf16=auto)
            for name in ("tiny-llama-bf16.gguf", "tiny-llama-f16.gguf"):
                cls.expected["r4/" + name] = os.path.join(REPACK, name)
        for name in os.listdir(SPLIT):
            if name.startswith("tiny-qwen3moe") and "-of-" in name:
                shutil.copy(os.path.join(SPLIT, name), os.path.join(cls.src, "split"))
        cls.expected["r4/split/tiny-qwen3moe-Q4_K_M.gguf"] = os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.r4.gguf")
        # chunk=64K puts chunk edges in the middle of row groups: every range must still be exact.



    def test_every_type_byte_identical_all_read_modes(self):
        for path, ref_file in self.expected.items():
            r = subprocess.run(["cmp", self.m.path(path), ref_file], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, path + ": " + r.stdout)
        assert_served(self, self.m, self.expected, seed=21, max_len=150000)

    def test_a_gguf_reader_checks_every_tensor(self):
        from gguf_check import check
        for path in self.expected:
            kv, tensors = check(self.m.path(path))
            self.assertEqual(kv["general.quantization_version"], 2, path)
            self.assertFalse(any(k.startswith("split.") for k in kv), path)
            self.assertTrue(tensors, path)
            if not path.endswith(("bf16.gguf", "f16.gguf")) or cpu_has_avx512_bf16():
                self.assertTrue(any(t >= 200 for _, t, _ in tensors), f"{path}: nothing repacked")


class R4Options(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-r4o-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        for name in ("tiny-qwen3moe-Q4_K_M.gguf", "tiny-qwen3moe-IQ4_KS.gguf", "tiny-llama-bf16.gguf", "tiny-llama-Q4_K_S.gguf"):
            shutil.copy(os.path.join(REPACK, name), self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_pattern(self):
        with Mount(self.tmp, "cache=64M,repack=exps") as m:
            self.assertEqual(read_bytes(m.path("r4/tiny-qwen3moe-Q4_K_M.gguf")),
                             read_bytes(os.path.join(REPACK, "tiny-qwen3moe-Q4_K_M-pat-exps-r4.gguf")))
            # 3-D expert tensors of a type with per-row scales (IQ4_KS), the others left as they are
            self.assertEqual(read_bytes(m.path("r4/tiny-qwen3moe-IQ4_KS.gguf")),
                             read_bytes(os.path.join(REPACK, "tiny-qwen3moe-IQ4_KS-pat-exps-r4.gguf")))
            # Nothing in this model matches: shown unchanged.
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-bf16.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-bf16.gguf")))

    def test_repack_bf16_on_and_off(self):
        with Mount(self.tmp, "cache=64M,repack_bf16=on") as m:
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-bf16.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-bf16-r4.gguf")))
        with Mount(self.tmp, "cache=64M,repack_bf16=off") as m:
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-bf16.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-bf16.gguf")))
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q4_K_S.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf")))

    def test_bad_input_is_listed_and_eio(self):
        from gguf_edit import set_first_tensor_type
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q8_0.gguf"), os.path.join(self.tmp, "unknown-type.gguf"))
        set_first_tensor_type(os.path.join(self.tmp, "unknown-type.gguf"), 77)
        with Mount(self.tmp, "cache=64M", expect_errors=True) as m:
            models = read_bytes(m.path(".weightfs/models")).decode()
            self.assertFalse(os.path.exists(m.path("r4/unknown-type.gguf")))
            self.assertTrue(any("unknown-type.gguf" in l and "unknown ggml type id 77" in l for l in models.splitlines()), models)
            # Truncated under the mount: EIO for the missing bytes (never zeros) on a file opened
            # before, and at open after.
            size = os.path.getsize(m.path("r4/tiny-llama-Q4_K_S.gguf"))
            fd = os.open(m.path("r4/tiny-llama-Q4_K_S.gguf"), os.O_RDONLY)
            os.truncate(os.path.join(self.tmp, "tiny-llama-Q4_K_S.gguf"), size // 2)
            with self.assertRaises(OSError) as cm:
                os.pread(fd, 4096, size - 5000)
            os.close(fd)
            self.assertEqual(cm.exception.errno, errno.EIO)
            with self.assertRaises(OSError) as cm:
                os.open(m.path("r4/tiny-llama-Q4_K_S.gguf"), os.O_RDONLY)
            self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertIn("tiny-llama-Q4_K_S.gguf: source changed since the mount scanned it (truncated from", m.log_text())


L2C = os.path.join(DATA, "llama2c")


class Llama2cView(MountedViews):
    """llama2c/ against the vector, and against llama2c_ref.py (written from the spec) on
    checkpoints generated here: MHA/GQA, tied/untied, group sizes 64/32/16, BF16/F16/F32, FP8."""

    @classmethod
    def prepare(cls):
        import dequant_ref
        import llama2c_ref
        from st_util import write as st_write
        rng = random.Random(31)
        shutil.copytree(os.path.join(L2C, "llama-gqa"), os.path.join(cls.src, "llama-gqa"))
        cls.expected["llama2c/llama-gqa.bin"] = os.path.join(L2C, "llama-gqa.bin")
        cls.configs = {"llama-gqa": (json.load(open(os.path.join(L2C, "llama-gqa", "config.json"))), 96)}

        def enc(dtype, vals):
            if dtype == "BF16":
                return b"".join(struct.pack("<H", dequant_ref.bf16_bits(dequant_ref.f32(v))) for v in vals)
            return struct.pack("<%d%s" % (len(vals), "e" if dtype == "F16" else "f"), *vals)

        def model(name, D, H, L, NH, NKV, V, dtype, tied, zero_row=False, fp8_q=False):
            cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": D, "intermediate_size": H, "num_hidden_layers": L,
                   "num_attention_heads": NH, "num_key_value_heads": NKV, "vocab_size": V, "max_position_embeddings": 128,
                   "tie_word_embeddings": tied}
            KV = NKV * (D // NH)
            t = {}

            def add(n, shape, dt=dtype):
                vals = [rng.uniform(-1, 1) for _ in range(shape[0] * (shape[1] if len(shape) > 1 else 1))]
                t[n] = (dt, shape, enc(dt, vals))
            add("model.embed_tokens.weight", [V, D])
            if zero_row:  # an all-zero group: scale 0, values 0
                dt, sh, blob = t["model.embed_tokens.weight"]
                es = 2 if dt != "F32" else 4
                t["model.embed_tokens.weight"] = (dt, sh, bytes(D * es) + blob[D * es:])
            for l in range(L):
                p = f"model.layers.{l}."
                add(p + "input_layernorm.weight", [D], "F32")
                add(p + "post_attention_layernorm.weight", [D], "F32")
                for n, shape in (("self_attn.q_proj", [D, D]), ("self_attn.k_proj", [KV, D]), ("self_attn.v_proj", [KV, D]),
                                 ("self_attn.o_proj", [D, D]), ("mlp.gate_proj", [H, D]), ("mlp.down_proj", [D, H]),
                                 ("mlp.up_proj", [H, D])):
                    add(p + n + ".weight", shape)
            add("model.norm.weight", [D], "F32")
            if not tied:
                add("lm_head.weight", [V, D])
            source = dict(t)
            if fp8_q:  # q_proj of layer 0 as block FP8; the reference reads its dequantized BF16 form
                rows, cols = D, D
                w = bytes(rng.randrange(256) & 0xFE if rng.random() < 0.99 else 0 for _ in range(rows * cols))
                w = bytes(b if (b & 0x7F) != 0x7F else 0x70 for b in w)
                grid = [-(-rows // 128), -(-cols // 128)]
                scales = [rng.uniform(1e-3, 1e-2) for _ in range(grid[0] * grid[1])]
                source["model.layers.0.self_attn.q_proj.weight"] = ("F8_E4M3", [rows, cols], w)
                source["model.layers.0.self_attn.q_proj.weight_scale_inv"] = ("F32", grid, struct.pack("<%df" % len(scales), *scales))
                t["model.layers.0.self_attn.q_proj.weight"] = ("BF16", [rows, cols], dequant_ref.dequant_fp8(
                    w, rows, cols, lambda r, c: dequant_ref.f32(scales[(r // 128) * grid[1] + c // 128])))
            d = os.path.join(cls.src, name)
            os.makedirs(d)
            st_write(os.path.join(d, "model.safetensors"), source)
            json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
            ref = os.path.join(cls.tmp, name + ".expected.bin")
            open(ref, "wb").write(llama2c_ref.export(t, cfg))
            cls.expected[f"llama2c/{name}.bin"] = ref
            cls.configs[name] = (cfg, H)

        model("mha-tied-gs16", 48, 80, 2, 4, 4, 30, "BF16", True, zero_row=True)
        model("gqa-untied-gs32-f16", 96, 160, 1, 6, 2, 50, "F16", False)
        model("gqa-f32-fp8", 64, 64, 1, 4, 2, 20, "F32", False, fp8_q=True)

    def test_byte_identical_all_read_modes(self):
        assert_served(self, self.m, self.expected, seed=5, max_len=30000)

    def test_header_and_sections_match_the_config(self):
        import llama2c_ref
        for name, (cfg, hidden) in self.configs.items():
            h = llama2c_ref.check_layout(read_bytes(self.m.path(f"llama2c/{name}.bin")), cfg, hidden)
            self.assertEqual(h["shared"], 1 if cfg.get("tie_word_embeddings") else 0, name)
        self.assertEqual(llama2c_ref.check_layout(read_bytes(self.m.path("llama2c/mha-tied-gs16.bin")),
                                                  *self.configs["mha-tied-gs16"])["group_size"], 16)


def passthrough_built():
    return "passthrough: yes" in subprocess.run([WEIGHTFS, "--version"], capture_output=True, text=True).stdout


class Passthrough(unittest.TestCase):
    """serve=passthrough: files materialized in a huge-page tmpfs and passed through. Built against
    libfuse >= 3.17.1 (the client root) it must work, with the consumer's mmap on 2 MiB pages; built
    against an older libfuse (Debian 12's 3.14) the option must be refused with a clear reason."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-pt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.data = os.urandom(48 << 20)
        with open(os.path.join(self.tmp, "big.bin"), "wb") as f:
            f.write(self.data)
        os.mkdir(os.path.join(self.tmp, "split"))
        for name in os.listdir(SPLIT):
            if name.startswith("tiny-llama") and "-of-" in name:
                shutil.copy(os.path.join(SPLIT, name), os.path.join(self.tmp, "split"))
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_K_S.gguf"), self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_passthrough(self):
        if os.environ.get("WEIGHTFS_TEST_SCRATCH_ROOT") == "1":
            self.assertTrue(passthrough_built(), "the client root has libfuse 3.18: passthrough must be compiled in")
        if not passthrough_built():
            r = subprocess.run([WEIGHTFS, self.tmp, self.tmp, "-o", "serve=passthrough"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("serve=passthrough: this weightfs was built against libfuse older than 3.17.1", r.stderr)
            return
        with Mount(self.tmp, "cache=256M,serve=passthrough") as m:
            with open(m.path("concat/big.bin"), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                self.assertTrue(mm[:] == self.data)
                with open("/proc/self/smaps") as sm:
                    smaps = sm.read()
                block = next(b for b in smaps.split("\n") if b.endswith("/concat/big.bin"))
                rest = smaps[smaps.index(block):].split("\nVmFlags")[0]
                pmd = int(re.search(r"ShmemPmdMapped:\s+(\d+) kB", rest).group(1))
                self.assertEqual(pmd, len(self.data) // 1024, "the consumer's mapping is not all on 2 MiB pages")
                st = status(m.mnt)
                self.assertTrue(st["serve"].startswith("passthrough (backing tmpfs huge=always"), st["serve"])
                self.assertIn("48.0 MiB on 2 MiB pages", st["serve"])
                self.assertIn("open: /concat/big.bin x1 (passthrough)", read_bytes(m.path(".weightfs/status")).decode())
                self.assertEqual(int(st["read_requests"]), 0, "passthrough reads must not reach the daemon")
            # Transformed views are materialized by the same transforms: byte-identical through read() and mmap.
            for view, ref in (("concat/split/tiny-llama-Q4_K_S.gguf", os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf")),
                              ("r4/tiny-llama-Q4_K_S.gguf", os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf"))):
                self.assertEqual(read_bytes(m.path(view)), read_bytes(ref), view)
                with open(m.path(view), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                    self.assertTrue(mm[:] == read_bytes(ref), view)

    def test_preload_materializes_backing_files_before_the_first_open(self):
        """serve=auto with preload=: the matching files are materialized into the backing tmpfs at
        mount (progress in status), so the consumer's first open finds them ready and no read
        reaches the daemon; a whole unchanged file that does not fit is left to pass through to
        its source. Without passthrough compiled in, preload warms the chunk cache as before."""
        r4_ref = read_bytes(os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf"))
        with Mount(self.tmp, "cache=8M,serve=auto,preload=r4/tiny-llama-Q4_K_S.gguf") as m:
            st = wait_preloaded(m.mnt)
            self.assertEqual(st["preload"].split()[:2], ["r4/tiny-llama-Q4_K_S.gguf", f"{len(r4_ref)}/{len(r4_ref)}"])
            if passthrough_built():
                self.assertIn("(backing tmpfs huge=always, 1 files", st["serve"], "not materialized at mount")
                self.assertEqual(int(st["fills"]), 0, "materialized files must not go through the chunk cache")
                self.assertIn("materialized for passthrough", m.log_text())
            else:
                self.assertGreater(int(st["fill_bytes"]), 0)
            with open(m.path("r4/tiny-llama-Q4_K_S.gguf"), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                self.assertTrue(mm[:] == r4_ref)
                self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q4_K_S.gguf")), r4_ref)
                text = read_bytes(m.path(".weightfs/status")).decode()
            st = status(m.mnt)
            if passthrough_built():
                self.assertIn("open: /r4/tiny-llama-Q4_K_S.gguf x1 (passthrough)", text)
                self.assertEqual(int(st["read_requests"]), 0, "passthrough reads must not reach the daemon")
        # big.bin (48 MiB) does not fit cache=8M: passed through to its source, nothing to make.
        with Mount(self.tmp, "cache=8M,serve=auto,preload=concat/big.bin") as m:
            st = wait_preloaded(m.mnt)
            self.assertEqual(st["preload"].split()[1], f"{len(self.data)}/{len(self.data)}")
            if passthrough_built():
                self.assertIn("(backing tmpfs huge=always, 0 files", st["serve"])
                self.assertEqual(int(st["fills"]), 0)
            self.assertEqual(read_bytes(m.path("concat/big.bin")), self.data)

    def test_the_next_shard_is_materialized_while_the_first_is_read(self):
        """serve=passthrough: the open of shard k of a checkpoint materializes shard k+1 in the
        background; every shard byte-identical through read() and mmap."""
        if not passthrough_built():
            return  # serve=passthrough is refused without it (test_passthrough checks that)
        shutil.copytree(os.path.join(DATA, "fp8", "deepseek-tiny"), os.path.join(self.tmp, "deepseek-tiny"))
        exp = os.path.join(DATA, "fp8", "deepseek-tiny.expected")
        shard = "bf16/deepseek-tiny/model-0000{}-of-00003.safetensors"
        with Mount(self.tmp, "cache=256M,serve=passthrough") as m:
            with open(m.path(shard.format(1)), "rb") as f:
                deadline = time.time() + 10
                while True:
                    st = status(m.mnt)
                    if st["shards_ahead"] == "1" and "(backing tmpfs huge=always, 2 files" in st["serve"]:
                        break
                    self.assertLess(time.time(), deadline, "shard 2 was not materialized ahead: " + st["serve"])
                    time.sleep(0.02)
                self.assertEqual(f.read(), read_bytes(os.path.join(exp, "model-00001-of-00003.safetensors")))
            for k in (2, 3):
                want = read_bytes(os.path.join(exp, f"model-0000{k}-of-00003.safetensors"))
                with open(m.path(shard.format(k)), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                    self.assertTrue(mm[:] == want, k)
            st = status(m.mnt)
            self.assertEqual(st["shards_ahead"], "2")
            self.assertIn("(backing tmpfs huge=always, 3 files", st["serve"])
            self.assertEqual(int(st["read_requests"]), 0)

    def test_a_budget_smaller_than_the_model_is_recycled(self):
        """serve=passthrough with room for two shards (cache=4M: one 2 MiB page each): a loader
        reading the three shards one after another gets every one materialized — a shard no
        longer open is evicted for the next — and a shard wanted while the two others are held
        open is served lazily with the reason; byte-identical throughout, reopened shards made
        again."""
        if not passthrough_built():
            return
        shutil.copytree(os.path.join(DATA, "fp8", "deepseek-tiny"), os.path.join(self.tmp, "deepseek-tiny"))
        exp = os.path.join(DATA, "fp8", "deepseek-tiny.expected")
        want = {k: read_bytes(os.path.join(exp, f"model-0000{k}-of-00003.safetensors")) for k in (1, 2, 3)}
        shard = "bf16/deepseek-tiny/model-0000{}-of-00003.safetensors"

        def served(m, k):
            line = [l for l in read_bytes(m.path(".weightfs/status")).decode().splitlines()
                    if l.startswith("open: /" + shard.format(k) + " ")]
            return line[0] if line else ""

        with Mount(self.tmp, "cache=4M,serve=passthrough") as m:
            for rounds in range(2):
                for k in (1, 2, 3):
                    with open(m.path(shard.format(k)), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                        self.assertIn("(passthrough)", served(m, k), f"round {rounds}, shard {k}")
                        self.assertTrue(mm[:] == want[k], f"round {rounds}, shard {k}")
                        self.assertEqual(f.read(), want[k])
            st = status(m.mnt)
            evicted = int(re.search(r"(\d+) evicted\)", st["serve"]).group(1))
            self.assertGreaterEqual(evicted, 3, st["serve"])
            self.assertEqual(int(st["read_requests"]), 0, "every shard should have been passed through")
            # Shards 1 and 2 held open: shard 3 has no room and is served lazily, still exact.
            with open(m.path(shard.format(1)), "rb") as f1, open(m.path(shard.format(2)), "rb") as f2:
                with open(m.path(shard.format(3)), "rb") as f3:
                    self.assertRegex(served(m, 3), r"\(lazy: file of \d+ bytes does not fit the backing budget")
                    self.assertEqual(f3.read(), want[3])
                self.assertEqual((f1.read(), f2.read()), (want[1], want[2]))
            self.assertGreater(int(status(m.mnt)["read_requests"]), 0)

    def test_a_file_open_lazily_is_not_passed_through_until_closed(self):
        """The kernel keeps one io mode per file: a passthrough open while a lazily served open
        of the same file is still open fails with EIO. With room for one file, B is served
        lazily while A holds the room; once A is closed, a second open of B (still open lazily)
        stays lazy and reads exact bytes; after B's opens are all closed it is passed through.
        And an O_DIRECT open is never passed through to its source, whose filesystem would
        refuse a buffer FUSE takes as it comes (EINVAL)."""
        if not passthrough_built():
            return
        a, b = "r4/tiny-llama-Q4_K_S.gguf", "concat/split/tiny-llama-Q4_K_S.gguf"
        want_a = read_bytes(os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf"))
        want_b = read_bytes(os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf"))

        def served(m, rel):
            text = read_bytes(m.path(".weightfs/status")).decode()
            return re.search(r"open: /" + re.escape(rel) + r" x\d+ \((.*)\)", text).group(1)

        with Mount(self.tmp, "cache=2M,serve=passthrough") as m:
            fa = open(m.path(a), "rb")
            self.assertEqual(served(m, a), "passthrough")
            with open(m.path(b), "rb") as fb:
                self.assertIn("does not fit the backing budget", served(m, b))
                fa.close()  # the room is free now, but b is open lazily
                with open(m.path(b), "rb") as fb2:
                    self.assertEqual(fb2.read(), want_b)
                    self.assertIn("open lazily already", served(m, b))
                self.assertEqual(fb.read(), want_b)
            with open(m.path(b), "rb") as fb:  # no lazy open left: passed through (a is evicted)
                self.assertEqual(served(m, b), "passthrough")
                self.assertEqual(fb.read(), want_b)
            self.assertEqual(read_bytes(m.path(a)), want_a)
            # An O_DIRECT open does not start a passthrough to the source (its filesystem's
            # alignment rules would then apply: EINVAL for this unaligned read): served by the
            # daemon, and while it is open a plain open is served lazily too (one io mode).
            fd = os.open(m.path("concat/big.bin"), os.O_RDONLY | os.O_DIRECT)
            try:
                self.assertTrue(served(m, "concat/big.bin").startswith("lazy"), served(m, "concat/big.bin"))
                self.assertEqual(os.pread(fd, 12345, 777), self.data[777:777 + 12345])
                with open(m.path("concat/big.bin"), "rb") as plain:
                    self.assertEqual(plain.read(), self.data)
            finally:
                os.close(fd)
            with open(m.path("concat/big.bin"), "rb") as plain:
                self.assertIn("passthrough to the source", served(m, "concat/big.bin"))
                self.assertEqual(plain.read(), self.data)

    def test_unchanged_file_beyond_the_budget_is_passed_through_to_its_source(self):
        """serve=auto with a backing budget smaller than the files: a file that is one source
        file unchanged (concat/big.bin) is passed through to that source itself — no copy (the
        backing tmpfs stays empty), no request reaches the daemon, and the consumer's mapping is
        the source's own pages (a byte written into the source shows in it at once) — while a
        transformed file that does not fit stays lazy, with the reason in status. Without
        passthrough compiled in, both are served lazily, byte-identical."""
        big = os.path.join(self.tmp, "big.bin")
        merged = os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf")
        with Mount(self.tmp, "cache=512K,serve=auto") as m:
            with open(m.path("concat/big.bin"), "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
                self.assertTrue(mm[:] == self.data)
                self.assertEqual(read_bytes(m.path("concat/big.bin")), self.data)
                text = read_bytes(m.path(".weightfs/status")).decode()
                st = status(m.mnt)
                if passthrough_built():
                    with open(big, "r+b") as src:  # same inode, same size: only the source's pages change
                        src.seek(12345)
                        src.write(b"\xa5\x5a")
                    self.assertEqual(mm[12345:12347], b"\xa5\x5a", "the consumer's mapping is not the source's pages")
            with open(m.path("concat/split/tiny-llama-Q4_K_S.gguf"), "rb") as f:
                self.assertEqual(f.read(), read_bytes(merged))
                after = read_bytes(m.path(".weightfs/status")).decode()
        if not passthrough_built():
            self.assertIn("open: /concat/big.bin x1 (lazy)", text)
            self.assertGreater(int(st["read_requests"]), 0)
            return
        self.assertIn("open: /concat/big.bin x1 (passthrough to the source (unchanged file, larger than the backing budget))", text)
        self.assertIn("(backing tmpfs huge=always, 0 files", st["serve"])
        self.assertEqual(int(st["read_requests"]), 0, "passthrough reads must not reach the daemon")
        self.assertRegex(after, r"/concat/split/tiny-llama-Q4_K_S.gguf x1 \(lazy: file of 770048 bytes does not fit the backing budget")


def wait_preloaded(mnt, seconds=20):
    """The status once preload= reports 100% (the last status seen if it never does)."""
    deadline = time.time() + seconds
    while True:
        st = status(mnt)
        if st["preload"].endswith("100%") or time.time() > deadline:
            return st
        time.sleep(0.05)


def hugetlb_mounts(under):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(under + "/") and " - hugetlbfs " in l]


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class HugetlbServe(unittest.TestCase):
    """serve=hugetlb: view files that fit cache= are symlinks to files materialized on first use in
    a hugetlbfs the daemon mounts (hugecp on demand): exact sizes and bytes, the consumer's mmap on
    explicit 2 MiB pages, larger files still lazy, a file the pool cannot hold served lazily
    through its alias under .weightfs/lazy/ (with the reason), and nothing left behind — not even after kill -9 (the next start removes it)."""

    POOL = "/proc/sys/vm/nr_hugepages"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-ht-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.src = os.path.join(self.tmp, "src")
        self.dir = os.path.join(self.tmp, "run")
        os.mkdir(self.src)
        for t in ("Q8_0", "Q4_K_S"):
            shutil.copy(os.path.join(REPACK, f"tiny-llama-{t}.gguf"), self.src)
        shutil.copytree(os.path.join(DATA, "fp8", "deepseek-tiny"), os.path.join(self.src, "deepseek-tiny"))
        self.big = os.urandom(9 << 20)
        with open(os.path.join(self.src, "big.bin"), "wb") as f:
            f.write(self.big)
        self.before = int(read_bytes(self.POOL))

    def tearDown(self):
        for p in hugetlb_mounts(self.dir):
            subprocess.run(["umount", "-l", p], check=False)
        with open(self.POOL, "w") as f:
            f.write(str(self.before))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def options(self, pages, budget="8M"):
        return f"cache={budget},serve=hugetlb,reserve_hugepages={pages},hugetlb_dir={self.dir}"

    def test_symlinks_into_hugetlbfs_exact_bytes_and_2m_pages(self):
        refs = {"concat/tiny-llama-Q8_0.gguf": os.path.join(REPACK, "tiny-llama-Q8_0.gguf"),
                "r4/tiny-llama-Q8_0.gguf": os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"),
                "r4/tiny-llama-Q4_K_S.gguf": os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf"),
                "bf16/deepseek-tiny/model-00001-of-00003.safetensors":
                    os.path.join(DATA, "fp8", "deepseek-tiny.expected", "model-00001-of-00003.safetensors")}
        with Mount(self.src, self.options(4)) as m:
            store = hugetlb_mounts(self.dir)
            self.assertEqual(len(store), 1)
            self.assertTrue(os.path.basename(store[0]).startswith("hugetlb."))
            # Larger than the budget: an ordinary lazy file.
            self.assertTrue(stat.S_ISREG(os.lstat(m.path("concat/big.bin")).st_mode))
            self.assertEqual(read_bytes(m.path("concat/big.bin")), self.big)
            for path, ref in refs.items():
                self.assertTrue(stat.S_ISLNK(os.lstat(m.path(path)).st_mode), path)
                want = read_bytes(ref)
                self.assertEqual(os.stat(m.path(path)).st_size, len(want), path)
                self.assertEqual(read_bytes(m.path(path)), want, path)  # an open through the link materializes it
                target = os.readlink(m.path(path))
                self.assertTrue(target.startswith(store[0] + "/"), target)
                self.assertEqual(os.stat(m.path(path)).st_size, len(want), path)
            # A consumer's mmap: explicit 2 MiB hugetlb pages.
            probe = subprocess.run([sys.executable, "-c", f"""
import mmap, re, sys
f = open({m.path("r4/tiny-llama-Q8_0.gguf")!r}, "rb")
mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
assert mm[:] == open({refs["r4/tiny-llama-Q8_0.gguf"]!r}, "rb").read()
smaps = open("/proc/self/smaps").read()
block = [b for b in re.split(r"\\n(?=[0-9a-f]+-[0-9a-f]+ )", smaps) if "/hugetlb." in b.split("\\n")[0]][0]
print(re.search(r"KernelPageSize:\\s+(\\d+)", block).group(1),
      sum(int(x) for x in re.findall(r"(?:Shared|Private)_Hugetlb:\\s+(\\d+)", block)))
"""], capture_output=True, text=True)
            self.assertEqual(probe.returncode, 0, probe.stderr)
            page_kib, hugetlb_kib = map(int, probe.stdout.split())
            self.assertEqual(page_kib, 2048)
            self.assertEqual(hugetlb_kib, 2048)
            st = status(m.mnt)
            self.assertTrue(st["serve"].startswith(f"hugetlb (hugetlbfs at {store[0]}, 4 files"), st["serve"])
            self.assertEqual(st["page_note"], "hugetlb pool left to serve=hugetlb files")
            self.assertIn("symlink: /r4/tiny-llama-Q8_0.gguf -> " + store[0], read_bytes(m.path(".weightfs/status")).decode())
            report = subprocess.run([WEIGHTFS, "status", m.mnt], capture_output=True, text=True).stdout
            self.assertIn("links     4 resolved (serve=hugetlb)", report)
            self.assertIn("/r4/tiny-llama-Q8_0.gguf -> " + store[0], report)
            self.assertEqual(int(st["read_requests"]) > 0, True)  # big.bin only
        self.assertEqual(hugetlb_mounts(self.dir), [], "the hugetlbfs mount was left behind")
        self.assertEqual(os.listdir(self.dir), [])
        self.assertEqual(meminfo("HugePages_Total"), self.before)

    def test_preload_materializes_the_hugetlbfs_files_at_mount(self):
        ref = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"))
        with Mount(self.src, self.options(4) + ",preload=r4/*") as m:
            st = wait_preloaded(m.mnt)
            store = hugetlb_mounts(self.dir)
            self.assertTrue(st["serve"].startswith(f"hugetlb (hugetlbfs at {store[0]}, 2 files"), st["serve"])
            self.assertEqual(sorted(os.listdir(store[0])), sorted(os.path.basename(os.readlink(m.path(f"r4/tiny-llama-{t}.gguf")))
                                                                 for t in ("Q8_0", "Q4_K_S")))
            self.assertIn("materialized for hugetlbfs", m.log_text())
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q8_0.gguf")), ref)
            self.assertEqual(int(st["fills"]), 0)
        self.assertEqual(meminfo("HugePages_Total"), self.before)

    def test_the_next_shard_is_materialized_while_the_first_is_read(self):
        """Loaders open a checkpoint's shards in order: resolving shard k materializes shard k+1 in
        the background, so its open finds it ready; exact bytes either way."""
        exp = os.path.join(DATA, "fp8", "deepseek-tiny.expected")
        shard = "bf16/deepseek-tiny/model-0000{}-of-00003.safetensors"
        with Mount(self.src, self.options(4)) as m:
            store = hugetlb_mounts(self.dir)[0]
            open(m.path(shard.format(1)), "rb").close()  # an open through the link materializes shard 1
            deadline = time.time() + 10
            while status(m.mnt)["shards_ahead"] != "1" or len(os.listdir(store)) < 2:
                self.assertLess(time.time(), deadline, "shard 2 was not materialized ahead")
                time.sleep(0.02)
            self.assertEqual(len(os.listdir(store)), 2)
            for k in (1, 2, 3):
                self.assertEqual(read_bytes(m.path(shard.format(k))), read_bytes(os.path.join(exp, f"model-0000{k}-of-00003.safetensors")))
            st = status(m.mnt)
            self.assertEqual(st["shards_ahead"], "2")  # shard 3, when shard 2 was resolved
            self.assertTrue(st["serve"].startswith(f"hugetlb (hugetlbfs at {store}, 3 files"), st["serve"])

    def test_a_budget_smaller_than_the_model_is_recycled(self):
        """Room for two shards (two 2 MiB pages): resolving the three shards in turn, twice, gets
        every one into hugetlbfs — the least recently resolved file is unlinked for the next
        (after its one-second grace) — byte-identical. With two evicted files still held open by
        the consumer their pages stay taken: the third cannot be made until
        they are closed: meanwhile the third's link points at its lazy alias, with the reason
        logged, and reads the same bytes through FUSE; once they are closed it is made."""
        exp = os.path.join(DATA, "fp8", "deepseek-tiny.expected")
        want = {k: read_bytes(os.path.join(exp, f"model-0000{k}-of-00003.safetensors")) for k in (1, 2, 3)}
        shard = "bf16/deepseek-tiny/model-0000{}-of-00003.safetensors"
        with Mount(self.src, self.options(2, budget="4M"), expect_errors=True) as m:
            store = hugetlb_mounts(self.dir)[0]
            for rnd in range(2):
                for k in (1, 2, 3):
                    self.assertEqual(read_bytes(m.path(shard.format(k))), want[k], f"round {rnd}, shard {k}")
                    self.assertTrue(os.readlink(m.path(shard.format(k))).startswith(store + "/"))
            st = status(m.mnt)
            self.assertGreaterEqual(int(re.search(r"(\d+) evicted\)", st["serve"]).group(1)), 3, st["serve"])
            self.assertLessEqual(len(os.listdir(store)), 2)
            self.assertEqual(int(st["read_requests"]), 0)
            with open(m.path(shard.format(1)), "rb") as f1, open(m.path(shard.format(2)), "rb") as f2:
                alias = "../../.weightfs/lazy/bf16/deepseek-tiny/model-00003-of-00003.safetensors"
                self.assertEqual(os.readlink(m.path(shard.format(3))), alias)
                requests = int(status(m.mnt)["read_requests"])
                self.assertEqual(read_bytes(m.path(shard.format(3))), want[3])  # lazily, through FUSE
                self.assertGreater(int(status(m.mnt)["read_requests"]), requests)
                self.assertIn("an evicted file a consumer still holds keeps its pages", m.log_text())
                self.assertIn("served lazily through " + alias, m.log_text())
                text = read_bytes(m.path(".weightfs/status")).decode()
                self.assertIn(f"symlink: /{shard.format(3)} -> {alias} (lazy: ", text)
                self.assertEqual((f1.read(), f2.read()), (want[1], want[2]))  # the holders still read theirs
            self.assertEqual(read_bytes(m.path(shard.format(3))), want[3])
            self.assertTrue(os.readlink(m.path(shard.format(3))).startswith(store + "/"))
            self.assertIn(f"symlink: /{shard.format(3)} -> {store}/", read_bytes(m.path(".weightfs/status")).decode())
        self.assertEqual(meminfo("HugePages_Total"), self.before)

    def test_only_an_open_through_the_link_materializes(self):
        """`ls -l` reads every link's text (readlink(2)), `ls -lL`, `du -L` and loaders stat
        through them: none of that may convert the directory. They get the alias under
        .weightfs/lazy/ (same size and bytes, so realpath() users read correct ones) until an
        open through the link materializes the file, and the hugetlbfs file after. An O_DIRECT
        open, which hugetlbfs refuses with EINVAL, is led to the alias, before and after."""
        path = "r4/tiny-llama-Q4_K_S.gguf"
        want = read_bytes(os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf"))
        with Mount(self.src, self.options(4)) as m:
            store = hugetlb_mounts(self.dir)[0]
            listing = subprocess.run(["ls", "-lR", m.mnt], capture_output=True, text=True, check=True).stdout
            self.assertIn("tiny-llama-Q4_K_S.gguf -> ../.weightfs/lazy/r4/tiny-llama-Q4_K_S.gguf", listing)
            self.assertEqual(os.lstat(m.path(path)).st_size, len("../.weightfs/lazy/r4/tiny-llama-Q4_K_S.gguf"))
            subprocess.run(["ls", "-lLR", m.mnt], capture_output=True, check=True)
            subprocess.run(["du", "-sL", m.mnt], capture_output=True, check=True)
            self.assertEqual(os.stat(m.path(path)).st_size, len(want))
            self.assertEqual(os.listdir(store), [])
            self.assertEqual(os.path.realpath(m.path(path)), m.path(".weightfs/lazy/" + path))
            self.assertEqual(read_bytes(os.path.realpath(m.path(path))), want)  # lazily, through FUSE
            self.assertEqual(os.listdir(store), [])
            self.assertEqual(read_direct(m.path(path)), want)
            self.assertEqual(os.listdir(store), [])
            self.assertEqual(read_bytes(m.path(path)), want)  # an open through the link: materialized
            self.assertEqual(len(os.listdir(store)), 1)
            self.assertEqual(os.path.realpath(m.path(path)), os.path.join(store, os.listdir(store)[0]))
            # A link's length follows its target at once (not after the kernel's attribute cache expires).
            self.assertEqual(os.lstat(m.path(path)).st_size, len(os.readlink(m.path(path))))
            self.assertEqual(read_direct(m.path(path)), want)  # still through the alias: no EINVAL
            self.assertNotIn("served lazily", m.log_text())

    def test_pool_too_small_serves_lazily_with_a_reason(self):
        """A pool of one page for a budget of four: the first file fits, the next cannot be made
        (the pool, not the budget, is short) — its link points at its alias under .weightfs/lazy/,
        a regular file served lazily with the same bytes, and the log says why. The aliases are
        not offered to preload= and keep the view's declared reading order."""
        with Mount(self.src, self.options(1) + ",preload=*", expect_errors=True) as m:
            wait_preloaded(m.mnt)
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q8_0.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf")))
            link = m.path("r4/tiny-llama-Q4_K_S.gguf")
            self.assertEqual(os.readlink(link), "../.weightfs/lazy/r4/tiny-llama-Q4_K_S.gguf")
            self.assertEqual(read_bytes(link), read_bytes(os.path.join(REPACK, "tiny-llama-Q4_K_S-r4.gguf")))
            alias = m.path(".weightfs/lazy/r4/tiny-llama-Q4_K_S.gguf")
            self.assertTrue(stat.S_ISREG(os.lstat(alias).st_mode))
            self.assertEqual(os.path.realpath(link), alias)
            self.assertLessEqual({"bf16", "concat", "r4"}, set(os.listdir(m.path(".weightfs/lazy"))))
            self.assertFalse(os.path.exists(m.path(".weightfs/lazy/concat/big.bin")))  # never a symlink: no alias
            self.assertIn("reserve more with reserve_hugepages=N", m.log_text())
            self.assertIn("served lazily through ../.weightfs/lazy/r4/tiny-llama-Q4_K_S.gguf", m.log_text())
            shown = sum(len(files) for d, _, files in os.walk(m.mnt) if not os.path.relpath(d, m.mnt).startswith(".weightfs"))
            self.assertIn(f"preload '*': {shown} files", m.log_text())  # not their aliases too
            self.assertEqual(int(status(m.mnt)["read_errors"]), 0)

    def test_kill9_leaves_a_mount_the_next_start_removes(self):
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        log = open(os.path.join(self.tmp, "log"), "w")
        try:
            d = subprocess.Popen([WEIGHTFS, self.src, mnt, "-f", "-o", self.options(2)], stdout=log, stderr=subprocess.STDOUT)
            wait_mounted(mnt, d)
            read_bytes(os.path.join(mnt, "concat/tiny-llama-Q8_0.gguf"))
            left = hugetlb_mounts(self.dir)
            d.kill()
            d.wait()
            subprocess.run(["fusermount3", "-u", mnt], check=True)
            self.assertEqual(hugetlb_mounts(self.dir), left, "expected the killed daemon's hugetlbfs to remain")
            # A link planted under the stale name of a dead pid is never followed to a mount elsewhere.
            victim = os.path.join(self.tmp, "victim")
            os.mkdir(victim)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "victim", victim], check=True)
            self.addCleanup(subprocess.run, ["umount", "-l", victim], check=False)
            os.symlink(victim, os.path.join(self.dir, "hugetlb.4194303"))
            with Mount(self.src, self.options(0)) as m:
                self.assertNotIn(left[0], hugetlb_mounts(self.dir))
                self.assertIn(f"removed {left[0]}: left behind by a daemon", m.log_text())
                self.assertTrue(os.path.ismount(victim), "a planted link led the daemon to unmount another filesystem")
                os.unlink(os.path.join(self.dir, "hugetlb.4194303"))
                self.assertEqual(read_bytes(m.path("concat/tiny-llama-Q8_0.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0.gguf")))
        finally:
            unmount(mnt)
            log.close()


class ConcatOptions(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-src-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        for name in os.listdir(SPLIT):
            if "-of-" in name:
                shutil.copy(os.path.join(SPLIT, name), self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_mapped_sends_leave_no_source_pages_in_the_daemon(self):
        # concat/ of a 64 MiB file in /dev/shm is sent from the source's own pages; the daemon drops
        # its page-table entries after each send, so its resident memory does not grow with the file.
        src = tempfile.mkdtemp(prefix="weightfs-shm-", dir="/dev/shm")
        try:
            data = os.urandom(64 << 20)
            with open(os.path.join(src, "big.bin"), "wb") as f:
                f.write(data)
            with Mount(src, "cache=16M") as m:
                def mapped_kb():
                    with open(f"/proc/{m.proc.pid}/status") as f:
                        fields = dict(l.split(":", 1) for l in f if ":" in l)
                    return int(fields["RssShmem"].split()[0]) + int(fields["RssFile"].split()[0])
                before = mapped_kb()  # the binary and its libraries (large under ASan)
                for _ in range(2):
                    with open(m.path("concat/big.bin"), "rb", buffering=0) as f:
                        fd = f.fileno()
                        got = b"".join(os.pread(fd, 1 << 20, off) for off in range(0, len(data), 1 << 20))
                    self.assertTrue(got == data)
                    # Drop the kernel's copy so the second pass reaches the daemon again.
                    with open(m.path("concat/big.bin"), "rb") as f:
                        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                self.assertGreater(int(status(m.mnt)["mapped_reads"]), 64)
                grown = mapped_kb() - before
                self.assertLess(grown, 16 << 10, f"the daemon kept {grown} kB more file/shmem pages mapped after sending 128 MiB")
        finally:
            shutil.rmtree(src)

    def test_merge_order_ik(self):
        with Mount(self.tmp, "cache=64M,merge_order=ik") as m:
            self.assertEqual(read_bytes(m.path("concat/tiny-qwen3moe-Q4_K_M.gguf")),
                             read_bytes(os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.merged-ik.gguf")))
            self.assertEqual(read_bytes(m.path("concat/tiny-llama-Q4_K_S.gguf")),
                             read_bytes(os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf")))

    def test_direct_io(self):
        with Mount(self.tmp, "cache=64M,direct_io") as m:
            want = read_bytes(os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf"))
            self.assertEqual(read_bytes(m.path("concat/tiny-qwen3moe-Q4_K_M.gguf")), want)
            fd = os.open(m.path("concat/tiny-qwen3moe-Q4_K_M.gguf"), os.O_RDONLY)
            for off in range(0, len(want), 99991):
                self.assertEqual(os.pread(fd, 123457, off), want[off:off + 123457])
            os.close(fd)

    def test_tiny_cache_with_small_chunks(self):
        # cache=1M is raised to the minimum for the thread count, one 2 MiB page: the two
        # files (2.1 MB) cannot both stay resident, so reading them evicts and re-reads.
        with Mount(self.tmp, "cache=1M,chunk=64K,prefetch=2,verbatim=cached") as m:
            for _ in range(2):
                for name, ref in (("tiny-qwen3moe-Q4_K_M.gguf", "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf"),
                                  ("tiny-llama-Q4_K_S.gguf", "tiny-llama-Q4_K_S.merged.gguf")):
                    self.assertEqual(read_bytes(m.path("concat/" + name)), read_bytes(os.path.join(SPLIT, ref)))
            st = status(m.mnt)
            self.assertGreater(int(st["evictions"]), 0)
            self.assertLessEqual(int(st["cache_used"].split()[0]), 2 << 20)
            # Slots in use, in whole 64 KiB chunks, within the 2 MiB (one huge page) budget.
            slots = int(st["cache_slots_used"].split()[0])
            self.assertEqual(slots % (64 << 10), 0)
            self.assertGreaterEqual(slots, int(st["cache_used"].split()[0]))
            self.assertLessEqual(slots, 2 << 20)

    def test_preload_reports_progress(self):
        with Mount(self.tmp, "cache=64M,preload=concat/*.gguf") as m:
            st = wait_preloaded(m.mnt)
            self.assertTrue(st["preload"].startswith("concat/*.gguf 2163008/2163008 "), st["preload"])
            self.assertIn("100%", st["preload"])
            self.assertGreaterEqual(int(st["fills"]), 2)

    def test_misaligned_split_set_is_refused_and_listed(self):
        # Rewrite shard 1 of the llama set with general.alignment = 64 (a set gguf-split corrupts).
        sys.path.insert(0, os.path.dirname(__file__))
        from gguf_edit import set_alignment  # noqa: E402
        set_alignment(os.path.join(self.tmp, "tiny-llama-Q4_K_S-00001-of-00005.gguf"), 64)
        with Mount(self.tmp, "cache=64M") as m:
            self.assertFalse(os.path.exists(m.path("concat/tiny-llama-Q4_K_S.gguf")))
            self.assertTrue(os.path.exists(m.path("concat/tiny-qwen3moe-Q4_K_M.gguf")))
            models = read_bytes(m.path(".weightfs/models")).decode()
            self.assertIn("general.alignment is 64", models)


class Daemon(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-d-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.src = os.path.join(self.tmp, "src")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.src)
        os.mkdir(self.mnt)
        shutil.copy(os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf"), self.src)

    def tearDown(self):
        unmount(self.mnt)
        shutil.rmtree(self.tmp)

    def run_weightfs(self, *args):
        return subprocess.run([WEIGHTFS, *args], capture_output=True, text=True, timeout=30)

    def test_help_and_version(self):
        r = self.run_weightfs("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: weightfs SOURCE MOUNTPOINT", r.stdout)
        self.assertIn("cache=SIZE", r.stdout)
        r = self.run_weightfs("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^weightfs \d+\.\d+\.\d+")

    def test_start_up_failures_are_one_clear_line_and_nothing_is_mounted(self):
        cases = [
            ((os.path.join(self.tmp, "nope"), self.mnt), 2, "SOURCE"),
            ((self.src, os.path.join(self.tmp, "nope")), 3, "MOUNTPOINT"),
            ((self.src, self.mnt, "-o", "frobnicate=1"), 1, "unknown option 'frobnicate=1'"),
            ((self.src, self.mnt, "-o", "cache=12X"), 1, "cache=12X"),
            ((self.src,), 1, "missing SOURCE or MOUNTPOINT"),
        ]
        for args, code, text in cases:
            r = self.run_weightfs(*args)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertIn(text, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIsNone(mounted(self.mnt))

    def test_hugepages_require_without_a_pool_fails_and_unmounts(self):
        before = meminfo("HugePages_Total")
        if before:
            self.fail("this test needs an empty hugepage pool (nr_hugepages=0)")
        r = self.run_weightfs(self.src, self.mnt, "-o", "cache=64M,hugepages=require")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("hugepages=require", r.stderr)
        self.assertIsNone(mounted(self.mnt))

    def test_background_daemon_and_fusermount_unmount(self):
        r = self.run_weightfs(self.src, self.mnt, "-o", "cache=64M")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNotNone(mounted(self.mnt), "the parent returned before the mount was live")
        pids = daemon_pids(self.mnt)
        self.assertEqual(len(pids), 1)
        self.assertEqual(read_bytes(os.path.join(self.mnt, "concat/tiny-llama-Q4_K_S.merged.gguf")),
                         read_bytes(os.path.join(self.src, "tiny-llama-Q4_K_S.merged.gguf")))
        line = mounted(self.mnt)
        self.assertIn(" - fuse.weightfs " + os.path.realpath(self.src) + " ", line)
        self.assertIn(" ro,", line.split(" - ")[1] + ",")
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        wait_gone(pids[0])
        self.assertIsNone(mounted(self.mnt))

    def test_sigterm_exits_cleanly_with_a_file_open(self):
        m = Mount(self.src, "cache=64M")
        with m:
            f = open(m.path("concat/tiny-llama-Q4_K_S.merged.gguf"), "rb")
            f.read(10)
            rc = m.stop(signal.SIGTERM)
            try:
                f.close()  # the connection is gone: close may report ENOTCONN, and must not hang
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOTCONN)
            self.assertEqual(rc, 0)
            self.assertIsNone(mounted(m.mnt))
            self.assertIn("exiting", m.log_text())

    def test_open_close_storm_then_unmount_exits_cleanly(self):
        # Regression: a RELEASE racing the open that registered its handle made the daemon free a
        # handle twice at unmount (SIGSEGV). Thousands of concurrent open/close, then unmount.
        m = Mount(self.src, "cache=64M")
        with m:
            path = m.path("concat/tiny-llama-Q4_K_S.merged.gguf")

            def storm():
                for _ in range(2000):
                    os.close(os.open(path, os.O_RDONLY))

            threads = [threading.Thread(target=storm) for _ in range(4)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            self.assertEqual(m.stop(), 0)

    def test_reserved_hugepages_are_used_and_given_back(self):
        pool = "/proc/sys/vm/nr_hugepages"
        before = int(read_bytes(pool))
        try:
            with Mount(self.src, "cache=64M,hugepages=require,reserve_hugepages=32,verbatim=cached") as m:
                st = status(m.mnt)
                self.assertEqual(st["page_kind"], "hugetlb-2M")
                self.assertEqual(int(st["hugepages_reserved"]), 32)
                self.assertEqual(int(read_bytes(pool)), before + 32)
                self.assertEqual(read_bytes(m.path("concat/tiny-llama-Q4_K_S.merged.gguf")),
                                 read_bytes(os.path.join(self.src, "tiny-llama-Q4_K_S.merged.gguf")))
                self.assertGreater(meminfo("HugePages_Total") - meminfo("HugePages_Free"), 0)
            self.assertEqual(int(read_bytes(pool)), before, "nr_hugepages was not restored")
            self.assertEqual(meminfo("HugePages_Total"), before)
        finally:
            with open(pool, "w") as f:
                f.write(str(before))


def daemon_pids(mnt):
    mnt = os.path.realpath(mnt)
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = read_bytes(f"/proc/{pid}/cmdline").split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"weightfs") and mnt.encode() in argv:
            pids.append(int(pid))
    return pids


def wait_gone(pid, timeout=20):
    deadline = time.time() + timeout * SLOWDOWN
    while time.time() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.05)
    raise AssertionError(f"daemon {pid} did not exit")


WEIGHTFS_CP = os.path.join(os.path.dirname(WEIGHTFS), "weightfs-cp") if WEIGHTFS else ""


class Tools(unittest.TestCase):
    """weightfs-cp into a real hugetlbfs mount, `weightfs status|models`, and an unmount the way
    systemd's idle timeout does it (umount), which must end the daemon and give back hugepages."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-tools-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.src = os.path.join(self.tmp, "src")
        os.mkdir(self.src)
        for name in os.listdir(SPLIT):
            if name.startswith("tiny-qwen3moe") and "-of-" in name:
                shutil.copy(os.path.join(SPLIT, name), self.src)
        self.pool = "/proc/sys/vm/nr_hugepages"
        self.pool_before = int(read_bytes(self.pool))

    def tearDown(self):
        for d in ("huge",):
            p = os.path.join(self.tmp, d)
            if os.path.ismount(p):
                subprocess.run(["umount", p], check=True)
        with open(self.pool, "w") as f:
            f.write(str(self.pool_before))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_weightfs_cp_into_hugetlbfs(self):
        huge = os.path.join(self.tmp, "huge")
        os.mkdir(huge)
        with open(self.pool, "w") as f:
            f.write(str(self.pool_before + 4))
        subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", huge], check=True)
        want = read_bytes(os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf"))
        with Mount(self.src, "cache=64M") as m:
            view = m.path("concat/tiny-qwen3moe-Q4_K_M.gguf")
            dst = os.path.join(huge, "model.gguf")
            r = subprocess.run([WEIGHTFS_CP, "--verify", "--numa", "interleave", view, dst], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("checksum", r.stderr)
            self.assertIn("(hugetlbfs)", r.stderr)
            # The exact size, although hugetlbfs holds whole pages (safetensors readers need it).
            self.assertEqual(os.path.getsize(dst), len(want))
            self.assertEqual(read_bytes(dst), want)
            self.assertIn(f"{len(want)} bytes", r.stderr)
            # mmap in a child: hugetlbfs unmaps only whole pages, and Python's mmap unmaps the
            # exact size (EINVAL, ignored), which would keep the mount busy until this process exits.
            probe = subprocess.run([sys.executable, "-c", "import mmap, sys; f = open(sys.argv[1], 'rb'); "
                                    "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); "
                                    "sys.exit(0 if m[:] == open(sys.argv[2], 'rb').read() else 1)",
                                    dst, os.path.join(SPLIT, "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf")])
            self.assertEqual(probe.returncode, 0)
            self.assertGreater(meminfo("HugePages_Total") - meminfo("HugePages_Free"), 0)
            r = subprocess.run([WEIGHTFS_CP, view, dst], capture_output=True, text=True)
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("refusing to overwrite", r.stderr)
            # On a terminal (a pty from script(1)) it draws a progress bar; piped, it does not.
            tty_dst = os.path.join(self.tmp, "tty.gguf")
            r = subprocess.run(["script", "-qec", f"{WEIGHTFS_CP} {view} {tty_dst}", "/dev/null"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("[" + "#" * 40 + "] 100%", r.stdout)
            self.assertNotIn("#####", subprocess.run([WEIGHTFS_CP, view, tty_dst + ".2"], capture_output=True, text=True).stderr)
            plain = os.path.join(self.tmp, "plain.gguf")
            r = subprocess.run([WEIGHTFS_CP, "--quiet", view, plain], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read_bytes(plain), want)
            # The copy takes the source's mode less the umask, as cp(1) does: a private model stays private.
            self.assertEqual(stat.S_IMODE(os.stat(plain).st_mode), 0o444 & ~current_umask())
            private = os.path.join(self.tmp, "private.bin")
            with open(private, "wb") as f:
                f.write(want[:4096])
            os.chmod(private, 0o600)
            r = subprocess.run([WEIGHTFS_CP, "--quiet", private, private + ".copy"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(stat.S_IMODE(os.stat(private + ".copy").st_mode), 0o600)
        r = subprocess.run([WEIGHTFS_CP, os.path.join(self.tmp, "missing"), os.path.join(self.tmp, "x")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(subprocess.run([WEIGHTFS_CP, "only-one"], capture_output=True).returncode, 1)
        os.unlink(dst)

    def test_status_and_models_reports(self):
        with Mount(self.src, "cache=64M,preload=concat/*") as m:
            read_bytes(m.path("concat/tiny-qwen3moe-Q4_K_M.gguf"))
            r = subprocess.run([WEIGHTFS, "status", m.mnt], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            for text in ("cache ", "pages ", "numa ", "hit rate ", "fill ", "preload ", "[#", "100%"):
                self.assertIn(text, r.stdout)
            r = subprocess.run([WEIGHTFS, "models", m.mnt], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("concat/  1 file(s)", r.stdout)
            self.assertIn("concat/tiny-qwen3moe-Q4_K_M.gguf  (GGUF merged from 4 shards)", r.stdout)
            self.assertIn("skipped  0", r.stdout)
        r = subprocess.run([WEIGHTFS, "status", self.tmp], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a weightfs mount", r.stderr)

    def test_umount_as_on_idle_timeout_ends_the_daemon_and_gives_back_hugepages(self):
        m = Mount(self.src, "cache=64M,hugepages=require,reserve_hugepages=32")
        with m:
            self.assertEqual(int(read_bytes(self.pool)), self.pool_before + 32)
            subprocess.run(["umount", m.mnt], check=True)
            self.assertEqual(m.proc.wait(timeout=20), 0)
            self.assertIsNone(mounted(m.mnt))
            self.assertEqual(int(read_bytes(self.pool)), self.pool_before)


class MountHelper(unittest.TestCase):
    """mount -t fuse.weightfs and fstab lines, as mount(8) → mount.fuse3 → weightfs runs them.
    mount(8) clears PATH, so the helper finds `weightfs` on /bin/sh's default PATH: inside a
    private mount namespace /usr/local/bin is replaced by a directory holding only our binary."""

    def test_mount_t_and_fstab_twice(self):
        tmp = tempfile.mkdtemp(prefix="weightfs-fstab-")
        try:
            src, mnt, mnt2, bindir = (os.path.join(tmp, d) for d in ("src", "mnt", "mnt2", "bin"))
            for d in (src, mnt, mnt2, bindir):
                os.mkdir(d)
            for name in os.listdir(SPLIT):
                if name.startswith("tiny-llama") and "-of-" in name:
                    shutil.copy(os.path.join(SPLIT, name), src)
            os.symlink(WEIGHTFS, os.path.join(bindir, "weightfs"))
            merged = os.path.join(SPLIT, "tiny-llama-Q4_K_S.merged.gguf")
            with open(os.path.join(tmp, "fstab"), "w") as f:
                f.write(f"# test fstab\n{src} {mnt2} fuse.weightfs "
                        "ro,allow_other,nofail,x-systemd.automount,x-systemd.idle-timeout=10min,_netdev,cache=64M 0 0\n")
            # On the host, a private mount namespace puts our binary on /bin/sh's default PATH
            # without touching the system. Inside the project's own test root (a chroot, where
            # "/" is no mount point to make private) a temporary symlink does the same job.
            scratch = os.environ.get("WEIGHTFS_TEST_SCRATCH_ROOT") == "1"
            link = "/usr/local/bin/weightfs"
            put_binary = (f"trap 'rm -f {link}' EXIT; ln -sfn {WEIGHTFS} {link}" if scratch
                          else f"mount --bind {bindir} /usr/local/bin")
            script = f"""
set -eu
{put_binary}
count() {{ awk -v m="$1" '$5 == m' /proc/self/mountinfo | wc -l; }}
mount -t fuse.weightfs -o cache=64M,nofail,relatime,x-systemd.automount,defaults {src} {mnt}
cmp {mnt}/concat/tiny-llama-Q4_K_S.gguf {merged}
grep -q " {mnt} .* - fuse.weightfs {src} " /proc/self/mountinfo
umount {mnt}
[ "$(count {mnt})" = 0 ]
mount -a -T {tmp}/fstab
mount -a -T {tmp}/fstab
[ "$(count {mnt2})" = 1 ] || {{ echo "mounted $(count {mnt2}) times"; exit 1; }}
cmp {mnt2}/concat/tiny-llama-Q4_K_S.gguf {merged}
umount {mnt2}
[ "$(count {mnt2})" = 0 ]
echo FSTAB-OK
"""
            cmd = ["bash", "-c", script] if scratch else ["unshare", "-m", "--propagation", "private", "bash", "-c", script]
            r = subprocess.run(cmd,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("FSTAB-OK", r.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not WEIGHTFS or not os.access(WEIGHTFS, os.X_OK):
        print("WEIGHTFS must name the built weightfs binary", file=sys.stderr)
        sys.exit(1)
    if not os.path.exists("/dev/fuse"):
        print("/dev/fuse is missing: these tests cannot run (and do not skip)", file=sys.stderr)
        sys.exit(1)
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"integration: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)

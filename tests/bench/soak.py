#!/usr/bin/python3
"""Soak: N concurrent readers — sequential, random-offset and mmap — over every view for a
bounded time, on a cache small enough to evict all the time, every byte checked against the
reference tools' outputs. Prints requests served, bytes verified, errors (must be 0), daemon RSS
and open fds at start and end; exits non-zero on any error, a leaked fd or unbounded growth.

    soak.py --weightfs build/src/weightfs --data tests/data [--seconds 60] [--readers 6]
"""
import argparse
import json
import mmap
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Mount, status  # noqa: E402


def build_source(data, src):
    """Copies the test vectors into src; returns {mount path: reference bytes}."""
    split, repack = os.path.join(data, "gguf", "split"), os.path.join(data, "gguf", "repack")
    expected = {}
    os.makedirs(os.path.join(src, "split"))
    for name in os.listdir(split):
        if "-of-" in name:
            shutil.copy(os.path.join(split, name), os.path.join(src, "split"))
    expected["concat/split/tiny-llama-Q4_K_S.gguf"] = os.path.join(split, "tiny-llama-Q4_K_S.merged.gguf")
    expected["concat/split/tiny-qwen3moe-Q4_K_M.gguf"] = os.path.join(split, "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf")
    expected["r4/split/tiny-qwen3moe-Q4_K_M.gguf"] = os.path.join(split, "tiny-qwen3moe-Q4_K_M.r4.gguf")
    # Every type ik's tool repacked (its own output beside each source), so every repack kernel is
    # read concurrently; BF16/F16 are left out, as r4/ repacks them only on AVX512-BF16 CPUs.
    types = sorted(n[len("tiny-llama-"):-len("-r4.gguf")] for n in os.listdir(repack)
                   if n.startswith("tiny-llama-") and n.endswith("-r4.gguf"))
    for t in (t for t in types if t not in ("bf16", "f16")):
        name = f"tiny-llama-{t}.gguf"
        shutil.copy(os.path.join(repack, name), src)
        expected[f"r4/{name}"] = os.path.join(repack, f"tiny-llama-{t}-r4.gguf")
        expected[f"concat/{name}"] = os.path.join(repack, name)
    for view, vec, name in (("bf16", "fp8", "deepseek-tiny"), ("layers", "layers", "llama-tiny")):
        shutil.copytree(os.path.join(data, vec, name), os.path.join(src, name))
        exp = os.path.join(data, vec, name + ".expected")
        for d, _, files in os.walk(exp):
            for f in files:
                expected[f"{view}/{name}/{os.path.relpath(os.path.join(d, f), exp)}"] = os.path.join(d, f)
    shutil.copytree(os.path.join(data, "llama2c", "llama-gqa"), os.path.join(src, "llama-gqa"))
    expected["llama2c/llama-gqa.bin"] = os.path.join(data, "llama2c", "llama-gqa.bin")
    return {path: open(ref, "rb").read() for path, ref in expected.items()}


def proc_figures(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) << 10
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def rss_parts(pid):
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                parts[line.split(":")[0][3:].lower()] = int(line.split()[1]) >> 10
    return ", ".join(f"{k} {v} MiB" for k, v in parts.items())


class Reader(threading.Thread):
    def __init__(self, kind, mnt, expected, deadline, seed):
        super().__init__(daemon=True)
        self.kind, self.mnt, self.expected, self.deadline = kind, mnt, expected, deadline
        self.rng = random.Random(seed)
        self.bytes = self.reads = 0
        self.errors = []
        self.direct_buf = mmap.mmap(-1, 1 << 20)

    def check(self, path, off, got):
        want = self.expected[path][off:off + len(got)]
        if got != want or (len(got) == 0 and off < len(self.expected[path])):
            self.errors.append(f"{self.kind}: {path} at {off}: {len(got)} bytes differ from the reference")
        self.bytes += len(got)
        self.reads += 1

    def run(self):
        paths = sorted(p for p in self.expected if self.expected[p])
        while time.time() < self.deadline and len(self.errors) < 10:
            path = self.rng.choice(paths)
            full = os.path.join(self.mnt, path)
            size = len(self.expected[path])
            try:
                if self.kind == "sequential":  # O_DIRECT: every read is a request to the daemon
                    fd = os.open(full, os.O_RDONLY | os.O_DIRECT)
                    try:
                        off = 0
                        while off < size:
                            # Page-aligned buffer and offsets, as O_DIRECT readers use: a file
                            # passed through to its source follows the source filesystem's rules.
                            got = self.direct_buf[:os.preadv(fd, [self.direct_buf], off)]
                            self.check(path, off, got)
                            if not got:
                                break
                            off += len(got)
                    finally:
                        os.close(fd)
                elif self.kind == "random":
                    fd = os.open(full, os.O_RDONLY)
                    try:
                        for _ in range(50):
                            off = self.rng.randrange(size)
                            self.check(path, off, os.pread(fd, self.rng.randrange(1, 300000), off))
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # next time from the daemon again
                    finally:
                        os.close(fd)
                else:
                    with open(full, "rb") as f:
                        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
                            for _ in range(50):
                                off = self.rng.randrange(size)
                                n = self.rng.randrange(1, 200000)
                                self.check(path, off, m[off:off + n])
                        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError as e:
                self.errors.append(f"{self.kind}: {path}: {e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weightfs", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--readers", type=int, default=6)
    ap.add_argument("--options", default="cache=8M,chunk=128K")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="weightfs-soak-")
    src = os.path.join(tmp, "src")
    os.mkdir(src)
    expected = build_source(args.data, src)
    ok = False
    try:
        with Mount(src, args.options, exe=args.weightfs, expect_errors=True) as m:
            mnt, daemon = m.mnt, m.proc
            # Warm-up pass, so "start" is measured with every view built and the cache in use (with
            # serve=hugetlb, through each file's lazy alias too: the path a file takes when the pool
            # is short).
            for path in expected:
                for full in (os.path.join(mnt, path), os.path.join(mnt, ".weightfs", "lazy", path)):
                    if os.path.exists(full):
                        with open(full, "rb") as f:
                            f.read()
            rss0, fds0 = proc_figures(daemon.pid)
            req0 = int(status(mnt)["read_requests"])
            kinds = ["sequential", "random", "mmap"]
            end = time.time() + args.seconds
            readers = [Reader(kinds[i % 3], mnt, expected, end, i) for i in range(args.readers)]
            started = time.time()
            [r.start() for r in readers]
            [r.join() for r in readers]
            elapsed = time.time() - started
            time.sleep(0.5)  # let the last RELEASEs arrive
            rss1, fds1 = proc_figures(daemon.pid)
            parts1 = rss_parts(daemon.pid)
            st = status(mnt)
            errors = [e for r in readers for e in r.errors]
            verified = sum(r.bytes for r in readers)
            fig = {
                "seconds": round(elapsed, 1), "readers": args.readers, "files": len(expected),
                "requests_served": int(st["read_requests"]) - req0, "reads_checked": sum(r.reads for r in readers),
                "bytes_verified": verified, "errors": len(errors) + int(st["read_errors"]),
                "evictions": int(st["evictions"]), "rss_start": rss0, "rss_end": rss1, "fds_start": fds0, "fds_end": fds1,
                "open_files_end": int(st["open_files"]),
            }
            print(f"soak: {args.readers} readers (sequential, random, mmap) over {len(expected)} files in 5 views, "
                  f"{fig['seconds']} s, options {args.options}")
            print(f"  requests served   {fig['requests_served']:>14,}")
            print(f"  reads checked     {fig['reads_checked']:>14,}")
            print(f"  bytes verified    {verified:>14,}  ({verified / elapsed / 1e9:.2f} GB/s)")
            print(f"  cache evictions   {fig['evictions']:>14,}")
            print(f"  errors            {fig['errors']:>14}")
            print(f"  daemon RSS        {rss0 >> 20:>8} MiB -> {rss1 >> 20} MiB ({parts1})")
            print(f"  daemon open fds   {fds0:>14} -> {fds1}")
            for e in errors[:10]:
                print("  ERROR", e)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(fig, f, indent=1)
            ok = (fig["errors"] == 0 and fds1 <= fds0 and fig["open_files_end"] == 0
                  and rss1 <= rss0 + (16 << 20) and verified > 0)
            print("soak:", "PASS" if ok else "FAIL")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

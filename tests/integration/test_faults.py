#!/usr/bin/python3
"""Faults while mounted: sources truncated, rewritten, replaced or deleted under the mount; a
source filesystem with bad sectors (faultfs); hugepages taken away; readers and the daemon
killed with SIGKILL. Every case: the reader gets EIO or correct bytes — never a mix of two files,
never a wrong byte — the log says what happened, and the mount stays up or is cleanly removable."""
import errno
import os
import shutil
import signal
import subprocess
import sys
import re
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DATA, WEIGHTFS, Mount, meminfo, mounted, status, unmount, wait_mounted  # noqa: E402

REPACK = os.path.join(DATA, "gguf", "repack")
FAULTFS = os.environ.get("FAULTFS", "")
PIECE = 65536


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def direct_pieces(path, size, piece=PIECE):
    """Reads `path` in `piece`-sized preads with O_DIRECT (so the kernel's page cache never
    answers for the daemon); yields (offset, bytes or the errno)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        for off in range(0, size, piece):
            try:
                yield off, os.pread(fd, piece, off)
            except OSError as e:
                yield off, e.errno
    finally:
        os.close(fd)


class SourceChanges(unittest.TestCase):
    """Sources changed under a live mount: each read is EIO or the bytes of the file as it was
    when scanned (what the cache already held) — never bytes of the new file."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-faults-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.src = os.path.join(self.tmp, "src")
        os.mkdir(self.src)
        self.old = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0.gguf"))
        for name in ("truncated", "replaced", "deleted", "rewritten"):
            shutil.copy(os.path.join(REPACK, "tiny-llama-Q8_0.gguf"), os.path.join(self.src, name + ".gguf"))
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"), os.path.join(self.src, "untouched.gguf"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_truncated_replaced_deleted_rewritten_while_mounted(self):
        changed = ("truncated", "replaced", "deleted", "rewritten")
        new = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"))  # same size, other bytes
        self.assertEqual(len(new), len(self.old))
        # Two mounts of the same SOURCE: `cached` sends every byte through the chunk cache, the
        # default sends copied ranges from the source's own pages (verbatim=mapped).
        with Mount(self.src, "cache=64M,chunk=64K,prefetch=0,verbatim=cached", expect_errors=True) as m, \
                Mount(self.src, "cache=64M,chunk=64K,prefetch=0", expect_errors=True) as mapped:
            # Each file (in concat/ and r4/) is opened and its first chunk read, so it is cached.
            fds, first = {}, {}
            for name in changed:
                for view in ("concat", "r4"):
                    for mnt in (m, mapped):
                        fd = os.open(mnt.path(f"{view}/{name}.gguf"), os.O_RDONLY | os.O_DIRECT)
                        fds[mnt, view, name] = fd
                        first[mnt, view, name] = os.pread(fd, PIECE, 0)
                self.assertEqual(first[m, "concat", name], self.old[:PIECE])
                self.assertEqual(first[mapped, "concat", name], self.old[:PIECE])
            time.sleep(0.02)  # the rewrites below must carry a later mtime than the scan saw
            os.truncate(os.path.join(self.src, "truncated.gguf"), len(self.old) // 2)
            with open(os.path.join(self.src, "replaced.tmp"), "wb") as f:
                f.write(new)
            os.rename(os.path.join(self.src, "replaced.tmp"), os.path.join(self.src, "replaced.gguf"))
            os.unlink(os.path.join(self.src, "deleted.gguf"))
            with open(os.path.join(self.src, "rewritten.gguf"), "r+b") as f:
                f.seek(len(self.old) // 2)
                f.write(new[len(self.old) // 2:])

            for name in changed:
                for view in ("concat", "r4"):
                    for mnt in (m, mapped):
                        path, fd = mnt.path(f"{view}/{name}.gguf"), fds[mnt, view, name]
                        # Through the descriptor opened before: the cached chunk as it was, then EIO;
                        # where nothing is held (sent from the source's pages), EIO from the start.
                        for off in range(0, os.fstat(fd).st_size, PIECE):
                            try:
                                got = os.pread(fd, PIECE, off)
                            except OSError as e:
                                got = e.errno
                            if off == 0 and mnt is m:
                                self.assertEqual(got, first[mnt, view, name], (view, name))
                            else:
                                self.assertEqual(got, errno.EIO, f"{view}/{name}.gguf at {off}: not EIO after the change")
                        os.close(fd)
                        # A new open fails at once (before a consumer could map pages it cannot read).
                        with self.assertRaises(OSError) as cm:
                            os.open(path, os.O_RDONLY)
                        self.assertEqual(cm.exception.errno, errno.EIO)
            self.assertGreater(int(status(mapped.mnt)["mapped_reads"]), 0)
            log = m.log_text()
            for name, why in (("truncated", "truncated from 1441728 to 720864 bytes: offset 720864 onwards is gone"), ("replaced", "replaced by another file"),
                              ("deleted", "deleted"), ("rewritten", "modified (mtime changed)")):
                self.assertIn(f"{name}.gguf: source changed since the mount scanned it ({why}); remount", log)
            # The model nobody touched is still served exactly, in both views.
            self.assertEqual(read_bytes(m.path("concat/untouched.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-Q4_0.gguf")))
            self.assertEqual(read_bytes(m.path("r4/untouched.gguf")), read_bytes(os.path.join(REPACK, "tiny-llama-Q4_0-r4.gguf")))
            self.assertGreater(int(status(m.mnt)["read_errors"]), 0)

        # A remount serves what SOURCE holds now.
        with Mount(self.src, "cache=64M", expect_errors=True) as m:
            self.assertEqual(read_bytes(m.path("concat/replaced.gguf")), new)
            self.assertFalse(os.path.exists(m.path("concat/deleted.gguf")))
            self.assertFalse(os.path.exists(m.path("r4/truncated.gguf")))
            self.assertIn("truncated.gguf", read_bytes(m.path(".weightfs/models")).decode())


def start_faultfs(test, ranges, ready):
    """faultfs mirroring test.lower at test.src with `ranges` (NAME:OFFSET:LENGTH[+MS]); returns
    once the file `ready` shows through it."""
    test.log = open(os.path.join(test.tmp, "faultfs.log"), "w")
    test.faultfs = subprocess.Popen([FAULTFS, test.lower, test.src, ranges], stdout=test.log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while not os.path.exists(os.path.join(test.src, ready)):
        test.assertIsNone(test.faultfs.poll(), "faultfs exited")
        test.assertLess(time.time(), deadline, "faultfs did not mount")
        time.sleep(0.02)


def stop_faultfs(test):
    subprocess.run(["fusermount3", "-u", test.src], check=False, capture_output=True)
    test.faultfs.wait(timeout=10)
    test.log.close()


@unittest.skipUnless(FAULTFS, "FAULTFS (the bad-sector test filesystem) is built with the tests")
class BadSectors(unittest.TestCase):
    """SOURCE on faultfs, which fails reads of chosen byte ranges with EIO."""

    BAD_OFFSET = 800000
    BAD_LENGTH = 4096

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-badsec-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.lower = os.path.join(self.tmp, "lower")
        self.src = os.path.join(self.tmp, "src")
        os.mkdir(self.lower)
        os.mkdir(self.src)
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q8_0.gguf"), os.path.join(self.lower, "bad.gguf"))
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"), os.path.join(self.lower, "good.gguf"))
        start_faultfs(self, f"bad.gguf:{self.BAD_OFFSET}:{self.BAD_LENGTH}", "bad.gguf")

    def tearDown(self):
        stop_faultfs(self)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_bad_sectors_are_eio_only_where_they_are_and_the_mount_stays_up(self):
        want = read_bytes(os.path.join(self.lower, "bad.gguf"))
        # faultfs itself fails exactly the bad range.
        with open(os.path.join(self.src, "bad.gguf"), "rb") as f:
            f.seek(self.BAD_OFFSET)
            with self.assertRaises(OSError) as cm:
                f.read(10)
            self.assertEqual(cm.exception.errno, errno.EIO)

        with Mount(self.src, "cache=64M,chunk=256K,prefetch=0", expect_errors=True) as m:
            path = m.path("concat/bad.gguf")
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            try:
                with self.assertRaises(OSError) as cm:
                    os.pread(fd, 4096, self.BAD_OFFSET & ~4095)
                self.assertEqual(cm.exception.errno, errno.EIO)
                # Same 256 KiB chunk as the bad sector, bytes beside it: served from a narrow read.
                chunk_start = self.BAD_OFFSET // (256 << 10) * (256 << 10)
                self.assertEqual(os.pread(fd, 4096, chunk_start), want[chunk_start:chunk_start + 4096])
                # Every 64 KiB piece is EIO exactly when it overlaps the bad range.
                for off, got in direct_pieces(path, len(want)):
                    overlaps = off < self.BAD_OFFSET + self.BAD_LENGTH and self.BAD_OFFSET < off + PIECE
                    self.assertEqual(got, errno.EIO if overlaps else want[off:off + PIECE], off)
            finally:
                os.close(fd)
            # r4/ of the same file: some pieces fail, every other one is the reference's bytes.
            r4_want = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"))
            results = list(direct_pieces(m.path("r4/bad.gguf"), len(r4_want)))
            failed = [off for off, got in results if got == errno.EIO]
            self.assertTrue(failed)
            self.assertLess(len(failed), 4)
            for off, got in results:
                if got != errno.EIO:
                    self.assertEqual(got, r4_want[off:off + PIECE], off)
            # The good model beside it is untouched, and the mount is up.
            self.assertEqual(read_bytes(m.path("concat/good.gguf")), read_bytes(os.path.join(self.lower, "good.gguf")))
            st = status(m.mnt)
            self.assertGreater(int(st["read_errors"]), 0)
            self.assertGreater(int(st["narrow_reads"]), 0)
            self.assertIn("bad.gguf: read error at offset", m.log_text())
            self.assertIn("(EIO to the reader)", m.log_text())


@unittest.skipUnless(FAULTFS, "FAULTFS (the bad-sector test filesystem) is built with the tests")
class SlowSource(unittest.TestCase):
    """SOURCE on faultfs with every read of one file slow (a disk, not memory): an open through a
    serve=hugetlb link waits for the whole file to be materialized, and meanwhile `status` says
    what is being made, how far it is and for what; when it is done the log says how long it took."""

    POOL = "/proc/sys/vm/nr_hugepages"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-slow-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.lower = os.path.join(self.tmp, "lower")
        self.src = os.path.join(self.tmp, "src")
        self.run_dir = os.path.join(self.tmp, "run")
        os.mkdir(self.lower)
        os.mkdir(self.src)
        self.want = os.urandom(20 << 20)  # ten 2 MiB pieces, made three at a time
        with open(os.path.join(self.lower, "big.bin"), "wb") as f:
            f.write(self.want)
        self.before = int(read_bytes(self.POOL))
        start_faultfs(self, f"big.bin:0:{len(self.want)}+400", "big.bin")

    def tearDown(self):
        stop_faultfs(self)
        with open(self.POOL, "w") as f:
            f.write(str(self.before))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_status_shows_a_materialization_while_an_open_waits_for_it(self):
        """serve=hugetlb here; and serve=passthrough where it is built (libfuse >= 3.17.1: the
        client root, where this suite runs too)."""
        self.slow_open(f"cache=32M,serve=hugetlb,reserve_hugepages=16,hugetlb_dir={self.run_dir}", "hugetlbfs")
        built = "passthrough: yes" in subprocess.run([WEIGHTFS, "--version"], capture_output=True, text=True).stdout
        if os.environ.get("WEIGHTFS_TEST_SCRATCH_ROOT") == "1":
            self.assertTrue(built, "the client root has libfuse 3.18: passthrough must be compiled in")
        if built:
            self.slow_open("cache=32M,serve=passthrough", "passthrough")

    def slow_open(self, opts, how):
        with Mount(self.src, opts) as m:
            got = {}

            def consumer():
                t0 = time.time()
                got["bytes"] = read_bytes(m.path("concat/big.bin"))
                got["seconds"] = time.time() - t0
            t = threading.Thread(target=consumer)
            t.start()
            seen, report = [], None
            while t.is_alive():
                seen += [l for l in read_bytes(m.path(".weightfs/status")).decode().splitlines() if l.startswith("materializing:")]
                if seen and report is None:  # `weightfs status`, the readable form, while the open still waits
                    report = subprocess.run([WEIGHTFS, "status", m.mnt], capture_output=True, text=True).stdout
                time.sleep(0.02)
            t.join()
            self.assertEqual(got["bytes"], self.want)
            self.assertGreater(got["seconds"], 1.0)  # the source really was slow
            self.assertTrue(seen, "status never showed the materialization")
            self.assertTrue(all(re.fullmatch(r"materializing: /concat/big\.bin [0-9.]+ (B|KiB|MiB) of 20\.0 MiB \(\d+%\), "
                                             r"[0-9.]+ GB/s, for an open \(" + how + r"\)", l) for l in seen), seen)
            self.assertTrue(any("(0%)" not in l for l in seen), seen)  # it moved while the open waited
            self.assertRegex(report or "", r"making    1 file\(s\)\n +/concat/big\.bin [0-9.]+ (B|KiB|MiB) of 20\.0 MiB")
            self.assertNotIn("materializing:", read_bytes(m.path(".weightfs/status")).decode())
            self.assertRegex(m.log_text(), r"materialized /concat/big\.bin \(20\.0 MiB\) for an open \(" + how + r"\) in [0-9.]+ s")


class Kills(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-kill-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.src = os.path.join(self.tmp, "src")
        os.mkdir(self.src)
        for name in ("tiny-llama-Q8_0.gguf", "tiny-llama-Q4_K_S.gguf"):
            shutil.copy(os.path.join(REPACK, name), self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_kill9_of_a_reader_mid_read_leaves_no_stuck_request(self):
        with Mount(self.src, "cache=4M,chunk=64K") as m:
            path = m.path("r4/tiny-llama-Q8_0.gguf")
            reader = subprocess.Popen([sys.executable, "-c", f"""
import os
while True:
    fd = os.open({path!r}, os.O_RDONLY | os.O_DIRECT)
    for off in range(0, os.fstat(fd).st_size, 1 << 20):
        os.pread(fd, 1 << 20, off)
    os.close(fd)
"""])
            deadline = time.time() + 10
            while int(status(m.mnt)["read_requests"]) < 20:
                self.assertLess(time.time(), deadline, "the reader never read")
                time.sleep(0.01)
            reader.send_signal(signal.SIGKILL)
            reader.wait()
            # Its open file is released and the mount answers other readers at once.
            deadline = time.time() + 10
            while int(status(m.mnt)["open_files"]) != 0:
                self.assertLess(time.time(), deadline, "the killed reader's file was never released")
                time.sleep(0.01)
            want = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"))
            self.assertEqual(read_bytes(path), want)

    def test_kill9_of_the_daemon_then_fusermount_clears_and_a_restart_serves(self):
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        want = read_bytes(os.path.join(self.src, "tiny-llama-Q4_K_S.gguf"))
        log = open(os.path.join(self.tmp, "daemon.log"), "w")
        try:
            d = subprocess.Popen([WEIGHTFS, self.src, mnt, "-f", "-o", "cache=16M"], stdout=log, stderr=subprocess.STDOUT)
            wait_mounted(mnt, d)
            f = open(os.path.join(mnt, "concat/tiny-llama-Q4_K_S.gguf"), "rb")
            self.assertEqual(f.read(4), b"GGUF")
            d.send_signal(signal.SIGKILL)
            d.wait()
            with self.assertRaises(OSError) as cm:
                os.listdir(os.path.join(mnt, "concat"))
            self.assertEqual(cm.exception.errno, errno.ENOTCONN)
            try:
                f.close()
            except OSError:
                pass
            subprocess.run(["fusermount3", "-u", mnt], check=True, timeout=10)
            self.assertIsNone(mounted(mnt))
            d = subprocess.Popen([WEIGHTFS, self.src, mnt, "-f", "-o", "cache=16M"], stdout=log, stderr=subprocess.STDOUT)
            wait_mounted(mnt, d)
            self.assertEqual(read_bytes(os.path.join(mnt, "concat/tiny-llama-Q4_K_S.gguf")), want)
            subprocess.run(["fusermount3", "-u", mnt], check=True, timeout=10)
            self.assertEqual(d.wait(timeout=20), 0)
        finally:
            unmount(mnt)
            log.close()


class Hugepages(unittest.TestCase):
    POOL = "/proc/sys/vm/nr_hugepages"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-hp-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q8_0.gguf"), self.tmp)
        self.before = int(read_bytes(self.POOL))

    def tearDown(self):
        with open(self.POOL, "w") as f:
            f.write(str(self.before))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_two_daemons_each_give_back_what_they_reserved(self):
        """Two mounts with reserve_hugepages=, stopped in the order they started (not the
        reverse): each takes out of the pool what it added — the first must not restore the
        value it saw (which would strand the second's pages), nor the second its own."""
        want = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"))
        a = Mount(self.tmp, "cache=16M,chunk=64K,hugepages=require,reserve_hugepages=8")
        b = Mount(self.tmp, "cache=8M,chunk=64K,hugepages=require,reserve_hugepages=4")
        pool = lambda: int(read_bytes(self.POOL))  # noqa: E731
        try:
            with a:
                self.assertEqual(pool(), self.before + 8)
                b.__enter__()
                self.assertEqual(pool(), self.before + 12)
                self.assertEqual(read_bytes(a.path("r4/tiny-llama-Q8_0.gguf")), want)
                self.assertEqual(read_bytes(b.path("r4/tiny-llama-Q8_0.gguf")), want)
            self.assertEqual(pool(), self.before + 4, "the first daemon's exit took the second's pages too")
            self.assertEqual(read_bytes(b.path("r4/tiny-llama-Q8_0.gguf")), want)  # the second still serves from them
            self.assertEqual(status(b.mnt)["page_kind"], "hugetlb-2M")
            b.__exit__(None, None, None)
        finally:
            b.stop()  # nothing to do unless a failure above left it running
        with open(self.POOL) as f:
            self.assertEqual(int(f.read()), self.before)
        self.assertEqual(meminfo("HugePages_Total"), self.before, "hugepages were not given back")

    def test_no_hugepages_falls_back_and_says_so(self):
        with open(self.POOL, "w") as f:
            f.write("0")
        with Mount(self.tmp, "cache=16M,hugepages=auto") as m:
            st = status(m.mnt)
            self.assertIn(st["page_kind"], ("thp", "4k"))
            self.assertIn("hugetlb pool has 0 free", st["page_note"])
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q8_0.gguf")),
                             read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf")))

    def test_pool_taken_away_mid_run_keeps_serving_and_is_given_back(self):
        want = read_bytes(os.path.join(REPACK, "tiny-llama-Q8_0-r4.gguf"))
        with Mount(self.tmp, "cache=16M,chunk=64K,hugepages=require,reserve_hugepages=8") as m:
            self.assertEqual(status(m.mnt)["page_kind"], "hugetlb-2M")
            self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q8_0.gguf")), want)
            with open(self.POOL, "w") as f:
                f.write("0")  # an administrator shrinks the pool: the mapped pages stay until unmapped
            for _ in range(3):
                self.assertEqual(read_bytes(m.path("r4/tiny-llama-Q8_0.gguf")), want)
                self.assertEqual(read_bytes(m.path("concat/tiny-llama-Q8_0.gguf")),
                                 read_bytes(os.path.join(self.tmp, "tiny-llama-Q8_0.gguf")))
            st = status(m.mnt)
            self.assertEqual(st["page_kind"], "hugetlb-2M")
            self.assertEqual(int(st["read_errors"]), 0)
        self.assertEqual(meminfo("HugePages_Total"), 0, "hugepages were not given back")


if __name__ == "__main__":
    unittest.main(verbosity=2)

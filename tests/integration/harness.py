"""Real mounts for the integration tests: start weightfs, wait for the mount (noticing an early
crash), always unmount, and check the daemon's log for errors nobody expected."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

WEIGHTFS = os.environ.get("WEIGHTFS", "")
DATA = os.environ.get("WEIGHTFS_TEST_DATA", "")
# How much slower than a release build the daemon under test is (a sanitizer build: 5): deadlines
# for starting and stopping are multiplied by it, never the numbers a test asserts.
SLOWDOWN = float(os.environ.get("WEIGHTFS_SLOWDOWN", "1"))


def mounted(mnt):
    """The mountinfo line of the weightfs mount at `mnt`, or None."""
    mnt = os.path.realpath(mnt)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[4] == mnt and parts[sep + 1] == "fuse.weightfs":
                return line
    return None


def count_mounts(mnt):
    mnt = os.path.realpath(mnt)
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if line.split()[4] == mnt)


def wait_mounted(mnt, proc=None, timeout=20):
    timeout *= SLOWDOWN
    deadline = time.time() + timeout
    while time.time() < deadline:
        if mounted(mnt):
            # The mount appears before the daemon has started serving (its cache, hugetlbfs and
            # threads come after mounting): a listing waits for the first answer, so everything
            # start-up sets up exists when this returns.
            try:
                os.listdir(mnt)
            except OSError:
                if proc is not None and proc.poll() is not None:
                    raise AssertionError(f"weightfs exited with {proc.returncode} after mounting")
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"weightfs exited with {proc.returncode} before mounting")
        time.sleep(0.02)
    raise AssertionError(f"{mnt} did not mount within {timeout}s")


def unmount(mnt):
    if mounted(mnt):
        subprocess.run(["fusermount3", "-u", mnt], check=False, capture_output=True)
    if mounted(mnt):
        subprocess.run(["fusermount3", "-u", "-z", mnt], check=False, capture_output=True)


class Mount:
    """`with Mount(src, opts) as m:` — weightfs in the foreground on a fresh mountpoint."""

    def __init__(self, source, options="cache=64M", extra_args=(), expect_errors=False, exe=None):
        self.exe = exe or WEIGHTFS  # another build of weightfs (the client root's, a bench's)
        self.source = source
        self.options = options
        self.extra_args = list(extra_args)
        self.expect_errors = expect_errors
        self.dir = tempfile.mkdtemp(prefix="weightfs-mnt-")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.proc = None
        self.started = False

    def __enter__(self):
        args = [self.exe, self.source, self.mnt, "-f"] + (["-o", self.options] if self.options else []) + self.extra_args
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_mounted(self.mnt, self.proc)
            self.started = True
        except AssertionError as e:
            self.stop()
            self.log.close()
            log = self.log_text()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError(f"{e}; the daemon's log:\n{log}") from None
        return self

    def path(self, rel):
        return os.path.join(self.mnt, rel)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=None):
        """Unmount (or signal) and wait for the daemon; returns its exit code."""
        if self.proc is None:
            return None
        if sig is not None:
            self.proc.send_signal(sig)
        elif self.started:
            unmount(self.mnt)
        else:  # it never mounted in time: it may do so any moment, or never, so ask it to stop
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20 * SLOWDOWN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        unmount(self.mnt)
        self.proc = None
        return rc

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        self.log.close()
        log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        if exc_type is None:
            if rc not in (0, None):
                raise AssertionError(f"weightfs exited with {rc}:\n{log}")
            if not self.expect_errors and ("[error]" in log or "[critical]" in log):
                raise AssertionError(f"unexpected errors in the daemon log:\n{log}")
        return False


def status(mnt):
    """.weightfs/status as a dict (first value of each key)."""
    out = {}
    with open(os.path.join(mnt, ".weightfs/status")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(": ")
            out.setdefault(k, v)
    return out


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)

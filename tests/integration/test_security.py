#!/usr/bin/python3
"""Privilege and exposure: other users reach the mount only with allow_other; a view file is never
more readable than its source (a 0600 model stays private in every view, also under allow_other);
the daemon never runs a program and opens for writing only what it must (traced with strace).
Read-only behaviour, SOURCE checksums, symlinks out of SOURCE and odd names: test_mount.py."""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DATA, WEIGHTFS, Mount, mounted, unmount, wait_mounted  # noqa: E402

REPACK = os.path.join(DATA, "gguf", "repack")
NOBODY = 65534


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def as_nobody(code):
    """Runs Python `code` as uid/gid 65534; returns (exit code, output)."""
    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    r = subprocess.run([sys.executable, "-c", code], preexec_fn=drop, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


class Exposure(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-sec-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        os.chmod(self.tmp, 0o755)
        self.src = os.path.join(self.tmp, "src")
        os.mkdir(self.src, 0o755)
        for name, mode in (("public.gguf", 0o644), ("private.gguf", 0o600), ("group.gguf", 0o640)):
            shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"), os.path.join(self.src, name))
            os.chmod(os.path.join(self.src, name), mode)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_other_users_only_with_allow_other(self):
        with Mount(self.src, "cache=16M") as m:
            os.chmod(m.dir, 0o755)  # the mountpoint's parent must not be what stops them
            self.assertNotIn("allow_other", mounted(m.mnt))
            rc, out = as_nobody(f"import os; os.listdir({m.mnt!r})")
            self.assertNotEqual(rc, 0)
            self.assertIn("PermissionError", out)
        with Mount(self.src, "cache=16M,allow_other") as m:
            os.chmod(m.dir, 0o755)
            self.assertIn("allow_other", mounted(m.mnt))
            rc, out = as_nobody(f"import os; print(sorted(os.listdir({m.mnt + '/concat'!r})))")
            self.assertEqual(rc, 0, out)
            self.assertIn("public.gguf", out)

    def test_modes_mirror_the_sources_in_every_view(self):
        with Mount(self.src, "cache=16M,allow_other") as m:
            os.chmod(m.dir, 0o755)
            info = mounted(m.mnt)
            self.assertIn("default_permissions", info)  # the kernel checks modes, not the daemon
            for view in ("concat", "r4"):
                for name, want in (("public.gguf", 0o444), ("private.gguf", 0o400), ("group.gguf", 0o440)):
                    self.assertEqual(stat.S_IMODE(os.stat(m.path(f"{view}/{name}")).st_mode), want, f"{view}/{name}")
                rc, out = as_nobody(f"open({m.path(view + '/public.gguf')!r}, 'rb').read(16)")
                self.assertEqual(rc, 0, out)
                rc, out = as_nobody(f"open({m.path(view + '/private.gguf')!r}, 'rb').read(16)")
                self.assertNotEqual(rc, 0)
                self.assertIn("PermissionError", out)


    def test_serve_hugetlb_keeps_the_modes(self):
        """serve=hugetlb shows a view file as a symlink into the daemon's hugetlbfs: whoever follows
        it is checked against the materialized file's own mode, which must be the view's (the
        source's read bits, the daemon's owner), or a private model would be readable by anyone
        who has the path."""
        pool = "/proc/sys/vm/nr_hugepages"
        before = int(read_bytes(pool))
        run = os.path.join(self.tmp, "run")
        self.addCleanup(lambda: open(pool, "w").write(str(before)))
        with Mount(self.src, f"cache=8M,allow_other,serve=hugetlb,reserve_hugepages=4,hugetlb_dir={run}") as m:
            os.chmod(m.dir, 0o755)
            for name, want in (("public.gguf", 0o444), ("private.gguf", 0o400), ("group.gguf", 0o440)):
                path = m.path(f"concat/{name}")
                self.assertTrue(stat.S_ISLNK(os.lstat(path).st_mode), name)
                self.assertEqual(read_bytes(path), read_bytes(os.path.join(self.src, name)))  # materialized (as root)
                target = os.readlink(path)
                st = os.stat(target)
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (want, os.getuid(), os.getgid()), name)
            store = os.path.dirname(os.readlink(m.path("concat/public.gguf")))
            rc, out = as_nobody(f"print(len(open({m.path('concat/public.gguf')!r}, 'rb').read()))")
            self.assertEqual(rc, 0, out)
            for path in (m.path("concat/private.gguf"), os.readlink(m.path("concat/private.gguf"))):
                rc, out = as_nobody(f"open({path!r}, 'rb').read(16)")
                self.assertNotEqual(rc, 0, path)
                self.assertIn("PermissionError", out)
            rc, out = as_nobody(f"import os; os.listdir({store!r})")  # the files' names are not listed either
            self.assertNotEqual(rc, 0)
            self.assertIn("PermissionError", out)


class OddNames(unittest.TestCase):
    """Spaces, UTF-8, tabs, newlines and backslashes in names: served byte-exactly in every view,
    and one record per line in .weightfs/models (escaped as `ls -b` does)."""

    NAMES = ("with space.gguf", "modèle ✓.gguf", "tab\tname.gguf", "new\nline.gguf", "back\\slash.gguf")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-names-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        for name in self.NAMES:
            shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"), os.path.join(self.tmp, name))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_odd_names(self):
        plain = read_bytes(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"))
        repacked = read_bytes(os.path.join(REPACK, "tiny-llama-Q4_0-r4.gguf"))
        with Mount(self.tmp, "cache=16M") as m:
            self.assertEqual(sorted(os.listdir(m.path("concat"))), sorted(self.NAMES))
            for name in self.NAMES:
                self.assertEqual(read_bytes(m.path("concat/" + name)), plain, repr(name))
                self.assertEqual(read_bytes(m.path("r4/" + name)), repacked, repr(name))
            lines = read_bytes(m.path(".weightfs/models")).decode("utf-8").splitlines()
            shown = [l.split("\t") for l in lines if l.startswith("shown\t")]
            self.assertTrue(all(len(f) == 4 for f in shown), shown)
            paths = {f[1] for f in shown}
            for name in self.NAMES:
                escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
                self.assertIn("r4/" + escaped, paths)


@unittest.skipUnless(shutil.which("strace"), "strace is installed by packaging/install-deps.sh --test")
class DaemonConduct(unittest.TestCase):
    """The daemon under strace, backgrounded as in production, with every view read: one execve
    (its own), and the only files it opens for writing are /dev/fuse, /dev/null (daemonizing) and
    the FUSE bdi's read_ahead_kb."""

    ALLOWED_WRITES = (r"^/dev/fuse$", r"^/dev/null$", r"^/sys/class/bdi/[^/]+/read_ahead_kb$")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weightfs-strace-")
        self.addCleanup(shutil.rmtree, self.tmp, True)  # even when the set-up fails
        self.src = os.path.join(self.tmp, "src")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.src)
        os.mkdir(self.mnt)
        shutil.copy(os.path.join(REPACK, "tiny-llama-Q4_0.gguf"), self.src)
        shutil.copytree(os.path.join(DATA, "fp8", "deepseek-tiny"), os.path.join(self.src, "deepseek-tiny"))
        shutil.copytree(os.path.join(DATA, "layers", "llama-tiny"), os.path.join(self.src, "llama-tiny"))
        shutil.copytree(os.path.join(DATA, "llama2c", "llama-gqa"), os.path.join(self.src, "llama-gqa"))

    def tearDown(self):
        unmount(self.mnt)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_no_program_run_and_no_stray_writes(self):
        trace = os.path.join(self.tmp, "trace")
        calls = "execve,execveat,open,openat,openat2,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate,link,symlink"
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=" + calls, "-o", trace,
                                   WEIGHTFS, self.src, self.mnt, "-o", "cache=16M"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt)
        for d, _, files in os.walk(self.mnt):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    fh.read()
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        tracer.wait(timeout=30)
        with open(trace) as f:
            text = f.read()
        execs = [line for line in text.splitlines() if "execve(" in line and "= 0" in line]
        # libfuse itself may record the mount in /etc/mtab with `mount -f` (a fake mount: no
        # mount happens; libfuse 3.18 does it in the client root): that one is allowed.
        mtab_update = re.compile(r'execve\("/(usr/)?bin/mount", \["/(usr/)?bin/mount", "--no-canonicalize", "-i", "-f"')
        execs = [e for e in execs if not mtab_update.search(e)]
        self.assertEqual(len(execs), 1, execs)
        self.assertIn(WEIGHTFS, execs[0])
        writes = []
        for line in text.splitlines():
            if any(c + "(" in line for c in ("rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat",
                                             "truncate", "link", "symlink", "creat")) and "= -1" not in line:
                writes.append(line)
            m = re.search(r'open(?:at2?)?\((?:AT_FDCWD, |\d+, )?"([^"]*)", ([A-Z_|]+)', line)
            if m and re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", m.group(2)) and "= -1" not in line:
                if not any(re.match(p, m.group(1)) for p in self.ALLOWED_WRITES):
                    writes.append(line)
        self.assertEqual(writes, [], "the daemon wrote where it should not")
        self.assertGreater(text.count("openat("), 10)  # the trace did see the daemon's work


if __name__ == "__main__":
    unittest.main(verbosity=2)

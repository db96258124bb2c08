#!/usr/bin/python3
"""The real-client tier: weightfs's views opened by llama.cpp, gguf-py, transformers and
safetensors from Debian testing, compared with the same clients on the offline route; then
weightfs built and tested inside that root against its libfuse 3.18.

The root comes from root.sh (cached under /var/cache/weightfs, rebuilt when packages.txt
changes). weightfs runs on the host; its mount lies inside the root's tree, so programs in the
root see it (one mount namespace)."""
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from gguf_edit import set_first_tensor_type  # noqa: E402
from harness import WEIGHTFS, mounted, unmount, wait_mounted  # noqa: E402

ROOT_SH = os.path.join(HERE, "root.sh")
results = []
failures = []  # (step, detail), repeated at the end: CI shows only the log's last lines


def step(name, ok, detail=""):
    results.append(ok)
    if not ok:
        failures.append(f"{name}{': ' + detail if detail else ''}")
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


# Progress bars and advice from transformers/tqdm would bury the results in a CI log.
QUIET = ("env", "TQDM_DISABLE=1", "HF_HUB_DISABLE_PROGRESS_BARS=1", "TRANSFORMERS_VERBOSITY=error")


def in_root(*cmd, timeout=1800):
    t0 = time.time()
    sys.stdout.flush()
    r = subprocess.run([ROOT_SH, "run", *QUIET, *cmd], timeout=timeout, stderr=subprocess.STDOUT)
    print(f"  ({' '.join(cmd)[:80]}: {time.time() - t0:.0f} s, rc {r.returncode})", flush=True)
    return r.returncode

def copy_tree_into(build):
    shutil.rmtree(build, ignore_errors=True)
    files = subprocess.run(["git", "-C", REPO, "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True).stdout.splitlines()
    if not files:
        files = [os.path.relpath(os.path.join(d, f), REPO) for d, _, fs in os.walk(REPO) for f in fs
                 if not os.path.relpath(d, REPO).startswith(("build", ".git"))]
    for f in files:
        os.makedirs(os.path.dirname(os.path.join(build, f)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, f), os.path.join(build, f))


def main():
    t0 = time.time()
    root = subprocess.run([ROOT_SH, "path"], check=True, capture_output=True, text=True).stdout.strip()
    print(f"client root: {root} (ready after {time.time() - t0:.0f} s)", flush=True)
    work_in_root = "/tmp/wfs-clients"
    work = root + work_in_root
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for f in ("make_models.py", "check_clients.py"):
        shutil.copy(os.path.join(HERE, f), work)
    for f in ("gguf_check.py", "harness.py"):
        shutil.copy(os.path.join(REPO, "tests", "integration", f), work)
    out, out_in_root = os.path.join(work, "out"), work_in_root + "/out"
    # weightfs built inside the root (g++ 16, libfuse 3.18: passthrough compiled in) first: the
    # client checks run llama-server through a passthrough mount of it, then its own suites run.
    build = root + "/tmp/wfs-build"
    copy_tree_into(build)
    built = in_root("bash", "-c", "cd /tmp/wfs-build && "
                    "{ meson setup b --buildtype=debugoptimized && ninja -C b -j2; } >build.log 2>&1 || { tail -40 build.log; exit 1; }") == 0
    proc = ht_proc = None
    try:
        step("models made by save_pretrained, convert_hf_to_gguf.py, llama-quantize, llama-gguf-split",
             in_root("python3", work_in_root + "/make_models.py", out_in_root) == 0)

        # Bad input next to the good models.
        bad = os.path.join(out, "src", "bad")
        os.makedirs(bad)
        mixtral = os.path.join(out, "ref", "mixtral-Q8_0.merged.gguf")
        in_root("llama-gguf-split", "--split", "--split-max-tensors", "12", out_in_root + "/ref/mixtral-Q8_0.merged.gguf",
                out_in_root + "/src/bad/trunc")
        shards = sorted(f for f in os.listdir(bad) if f.startswith("trunc-"))
        last = os.path.join(bad, shards[-1])
        os.truncate(last, os.path.getsize(last) - 1000)
        os.rename(last, os.path.join(bad, "trunc-%05d-of-%05d.gguf" % (len(shards), len(shards))))
        if shards[-1] != "trunc-00002-of-00002.gguf":
            print(f"note: truncated set has {len(shards)} shards")
        in_root("llama-gguf-split", "--split", "--split-max-tensors", "12", out_in_root + "/ref/mixtral-Q8_0.merged.gguf",
                out_in_root + "/src/bad/late")  # truncated later, under the mount
        shutil.copy(os.path.join(out, "src", "gguf", "llama-Q4_K_M.gguf"), os.path.join(bad, "corrupt.gguf"))
        set_first_tensor_type(os.path.join(bad, "corrupt.gguf"), 77)  # 77: no ggml type (99 is ik Q8_2_X4)
        shutil.copytree(os.path.join(out, "src", "hf", "llama-single"), os.path.join(bad, "hf-corrupt"))
        with open(os.path.join(bad, "hf-corrupt", "model.safetensors"), "r+b") as f:
            f.seek(8)
            f.write(b"{{{{ not json")
        _ = mixtral

        mnt = os.path.join(out, "mnt")
        os.makedirs(mnt)
        log = open(os.path.join(out, "daemon.log"), "w")
        proc = subprocess.Popen([WEIGHTFS, os.path.join(out, "src"), mnt, "-f", "-o", "cache=256M,allow_other"],
                                stdout=log, stderr=subprocess.STDOUT)
        wait_mounted(mnt, proc)
        # A second mount with serve=hugetlb: its view files are symlinks naming the host path of
        # its hugetlbfs, which lies inside the root's tree; inside the root that host path must
        # lead back to the same place, so the root's own host path is made a link to "/" there.
        ht_mnt = os.path.join(out, "mnt-ht")
        os.makedirs(ht_mnt)
        os.makedirs(os.path.join(work, "ht"))
        os.makedirs(os.path.dirname(root + root), exist_ok=True)
        if not os.path.lexists(root + root):
            os.symlink("/", root + root)
        ht_log = open(os.path.join(out, "daemon-ht.log"), "w")
        ht_proc = subprocess.Popen([WEIGHTFS, os.path.join(out, "src"), ht_mnt, "-f", "-o",
                                    f"cache=64M,allow_other,serve=hugetlb,reserve_hugepages=32,hugetlb_dir={work}/ht"],
                                   stdout=ht_log, stderr=subprocess.STDOUT)
        wait_mounted(ht_mnt, ht_proc)
        rc = in_root("env", "WEIGHTFS_IN_ROOT=" + ("/tmp/wfs-build/b/src/weightfs" if built else ""),
                     "python3", work_in_root + "/check_clients.py", out_in_root)
        subprocess.run(["fusermount3", "-u", ht_mnt], check=False)
        ht_proc.wait(timeout=30)
        left = os.listdir(os.path.join(work, "ht"))
        step("the serve=hugetlb weightfs exited cleanly and gave its hugepages back",
             ht_proc.returncode == 0 and mounted(ht_mnt) is None and not left,
             f"rc {ht_proc.returncode}, still mounted: {mounted(ht_mnt)}, left in its hugetlb_dir: {left}")
        ht_proc = None
        try:
            summary = json.load(open(os.path.join(out, "results.json")))
        except (OSError, ValueError) as e:  # check_clients.py died before its summary
            summary = {"checks": [], "failed": [f"no summary ({e})"], "versions": {}}
        step(f"client checks in the root ({len(summary['checks'])} checks)", rc == 0,
             "failed: " + " | ".join(summary["failed"]) if summary["failed"] else f"rc {rc}")
        print("versions: " + json.dumps(summary["versions"]), flush=True)
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        proc.wait(timeout=30)
        step("weightfs exited cleanly after the clients and nothing is left mounted",
             proc.returncode == 0 and mounted(mnt) is None, f"rc {proc.returncode}, still mounted: {mounted(mnt)}")
        proc = None
    finally:
        if proc is not None:
            unmount(os.path.join(out, "mnt"))
            proc.kill()
            proc.wait()
            print(open(os.path.join(out, "daemon.log")).read()[-3000:])
        if ht_proc is not None:
            unmount(os.path.join(out, "mnt-ht"))
            ht_proc.terminate()  # its exit unmounts its hugetlbfs and gives the pages back
            ht_proc.wait(timeout=30)
            print(open(os.path.join(out, "daemon-ht.log")).read()[-3000:])
        if os.path.islink(root + root):
            os.unlink(root + root)
            try:
                os.removedirs(os.path.dirname(root + root))  # the directories made for it, while empty
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)

    try:
        rc = in_root("bash", "-c", "cd /tmp/wfs-build && [ -x b/src/weightfs ] && "
                     "pkg-config --modversion fuse3 && b/tests/unit_tests --gtest_brief=1 && "
                     "export WEIGHTFS=/tmp/wfs-build/b/src/weightfs WEIGHTFS_TEST_DATA=/tmp/wfs-build/tests/data "
                     "FAULTFS=/tmp/wfs-build/b/tests/faultfs WEIGHTFS_TEST_SCRATCH_ROOT=1; rc=0; "
                     "for t in mount faults hostile security; do "
                     "python3 tests/integration/test_$t.py >t.log 2>&1 || rc=1; echo \"$t: $(tail -1 t.log)\"; "
                     "[ $rc = 0 ] || tail -30 t.log; done; exit $rc")
        step("weightfs builds in the root against libfuse 3.18 and passes its unit, mount, fault, hostile-corpus and "
             "security tests there", built and rc == 0)
    finally:
        shutil.rmtree(build, ignore_errors=True)

    failed = results.count(False)
    for f in failures:
        print("FAILED " + f)
    print(f"clients: {len(results) - failed} passed, {failed} failed ({time.time() - t0:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

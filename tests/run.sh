#!/bin/bash
# The whole test suite: installs what it needs, builds, and runs every tier with meson —
# unit (GoogleTest), integration (real FUSE mounts), clients (real llama.cpp/transformers in a
# Debian testing root). Ends with one line "N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: the tests mount filesystems and reserve hugepages: run as root" >&2; exit 1; }
packaging/install-deps.sh --test
build=build-test
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=debugoptimized >/dev/null
ninja -C "$build" -j2
set +e
meson test -C "$build" --print-errorlogs --num-processes 1 "$@"
rc=$?
set -e
/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL"):
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed")
PY
exit $rc

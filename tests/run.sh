#!/bin/bash
# The whole test suite: installs what it needs, builds, and runs every tier with meson —
# unit (GoogleTest), integration (real FUSE mounts), clients (real llama.cpp/transformers in a
# Debian testing root, weightfs rebuilt there against libfuse 3.18), packaging (the .deb) — then
# unit and integration again under ASan+UBSan, and the parsers fuzzed (libFuzzer) for a bounded
# time. Ends with one line "N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: the tests mount filesystems and reserve hugepages: run as root" >&2; exit 1; }
packaging/install-deps.sh --test
build=build-test
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=debugoptimized >/dev/null
ninja -C "$build" -j2
rm -f "$build/meson-logs/testlog.json" build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json  # no stale counts
set +e
meson test -C "$build" --print-errorlogs --num-processes 1 "$@"
rc=$?
# The unit and mount tiers again under AddressSanitizer + UndefinedBehaviorSanitizer: any leak,
# overflow or undefined behaviour fails the run.
asan=build-asan
[ -f "$asan/build.ninja" ] || meson setup "$asan" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C "$asan" -j2 src/weightfs src/weightfs-cp tests/unit_tests tests/faultfs >"$asan/build.log" 2>&1 || tail -40 "$asan/build.log"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C "$asan" --print-errorlogs --num-processes 1 --suite unit --suite integration --no-rebuild
rc_asan=$?
# The parsers fuzzed for a bounded time (libFuzzer, clang, with ASan+UBSan).
fuzz=build-fuzz
[ -f "$fuzz/build.ninja" ] || CXX=clang++ meson setup "$fuzz" --buildtype=debugoptimized -Dtests=false -Dfuzz=true -Db_lundef=false >/dev/null
ninja -C "$fuzz" -j2 tests/fuzz/gguf_fuzz tests/fuzz/safetensors_fuzz tests/fuzz/hf_fuzz tests/fuzz/names_fuzz >"$fuzz/build.log" 2>&1 || tail -40 "$fuzz/build.log"
meson test -C "$fuzz" --print-errorlogs --num-processes 1 --suite fuzz --no-rebuild
rc_fuzz=$?
set -e
/usr/bin/python3 - "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json" "$fuzz/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = 0
for log in sys.argv[1:]:
    try:
        lines = open(log).readlines()
    except OSError:
        print(f"{log}: no results (the tier did not run)")
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)
        if r["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed")
PY
[ $rc -eq 0 ] && [ $rc_asan -eq 0 ] && [ $rc_fuzz -eq 0 ]

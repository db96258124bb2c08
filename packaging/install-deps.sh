#!/bin/bash
# Installs the Debian/Ubuntu packages weightfs needs to build, run and test. Idempotent: a
# second run installs nothing. Usage: install-deps.sh [--test]  (--test adds the test tools)
set -euo pipefail
build=(meson ninja-build g++ pkg-config libfuse3-dev fuse3 libnuma-dev libspdlog-dev nlohmann-json3-dev liblz4-dev)
test=(libgtest-dev python3 debootstrap util-linux numactl debhelper dpkg-dev rpm clang libclang-rt-dev strace)
want=("${build[@]}")
[ "${1:-}" = "--test" ] && want+=("${test[@]}")
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

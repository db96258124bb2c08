#!/bin/bash
# Builds the .deb with dpkg-buildpackage from a staged copy of the tree (the project keeps
# debian/ under packaging/). Usage: packaging/build-deb.sh OUTDIR
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:?usage: build-deb.sh OUTDIR}" && cd "$1" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/weightfs-0.1.0"
(cd "$repo" && { git ls-files --cached --others --exclude-standard 2>/dev/null || find . -type f -not -path './build*' -not -path './.git/*'; } \
    | grep -v '^tests/data/' | tar -cf - -T -) | tar -xf - -C "$stage/weightfs-0.1.0"
mv "$stage/weightfs-0.1.0/packaging/debian" "$stage/weightfs-0.1.0/debian"
(cd "$stage/weightfs-0.1.0" && dpkg-buildpackage -us -uc -b -j2 >"$stage/build.log" 2>&1) || { tail -40 "$stage/build.log"; exit 1; }
cp "$stage"/*.deb "$out/"
ls "$out"/*.deb

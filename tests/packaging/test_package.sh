#!/bin/bash
# The .deb builds with dpkg-buildpackage, holds what it must, and its binary runs; meson install
# puts the same files in place; the RPM spec parses (when rpmspec is installed).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v dpkg-buildpackage >/dev/null || fail "dpkg-buildpackage is not installed (packaging/install-deps.sh --test installs it)"
"$repo/packaging/build-deb.sh" "$tmp/out" >/dev/null
deb="$(ls "$tmp"/out/weightfs_*_amd64.deb)"
contents="$(dpkg-deb -c "$deb" | awk '{print $6}')"
for f in ./usr/bin/weightfs ./usr/bin/weightfs-cp ./usr/share/man/man8/weightfs.8.gz ./usr/share/man/man1/weightfs-cp.1.gz \
         ./usr/lib/systemd/system/weightfs@.service ./usr/share/doc/weightfs/weightfs.fstab.example \
         ./usr/share/doc/weightfs/systemd-examples/mnt-w.automount; do
    grep -qx "$f" <<<"$contents" || fail "$f missing from the package"
done
dpkg-deb -f "$deb" Depends | grep -q fuse3 || fail "the package must depend on fuse3"
dpkg-deb -x "$deb" "$tmp/x"
"$tmp/x/usr/bin/weightfs" --version | grep -q "^weightfs 0.1.0" || fail "packaged weightfs does not run"
"$tmp/x/usr/bin/weightfs" --help | grep -q "fuse.weightfs" || fail "--help lacks the fstab line"
zcat "$tmp/x/usr/share/man/man8/weightfs.8.gz" | grep -q "x-systemd.automount" || fail "man page lacks the fstab line"
# meson install to a staging dir installs the same set.
meson setup "$tmp/b" "$repo" -Dtests=false --prefix=/usr >/dev/null
meson install -C "$tmp/b" --destdir "$tmp/inst" >/dev/null
for f in usr/bin/weightfs usr/bin/weightfs-cp usr/share/man/man8/weightfs.8 usr/lib/systemd/system/weightfs@.service; do
    [ -e "$tmp/inst/$f" ] || fail "meson install did not install $f"
done
if command -v rpmspec >/dev/null; then
    rpmspec -P "$repo/packaging/rpm/weightfs.spec" >/dev/null || fail "the RPM spec does not parse"
    echo "rpm spec parses"
else
    echo "rpmspec not installed: the RPM spec was not parsed"
fi
echo "package: 1 passed, 0 failed"

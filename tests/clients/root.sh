#!/bin/bash
# The client root: one Debian testing (forky) root made with debootstrap from Debian's packages,
# cached under /var/cache/weightfs keyed by packages.txt, so a second run costs seconds.
#
#   root.sh path          build the root if missing or stale; print its path
#   root.sh run CMD...    run CMD inside the root with /proc, /sys and /dev mounted for the
#                         duration only (unmounted on every exit path, Ctrl-C included)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache=/var/cache/weightfs
recipe=2   # bump when the build steps below change
key="$( (echo "recipe $recipe"; cat "$here/packages.txt") | sha256sum | cut -c1-16)"
root="$cache/root-$key"

mirror() {
    # The host's Debian mirror (deb822 or one-line sources), else Debian's default.
    local m
    m="$(grep -hoE '^URIs: *http[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//')"
    [ -n "$m" ] || m="$(grep -hoE '^deb +http[^ ]+/debian/? ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')"
    echo "${m:-http://deb.debian.org/debian}"
}

packages() { grep -E "^$1:" "$here/packages.txt" | cut -d: -f2- | tr '\n' ' '; }

mounted=()
unmount_all() {
    local i
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    mounted=()
}
bind_system() {   # $1 = root
    mount -t proc proc "$1/proc"; mounted+=("$1/proc")
    mount -t sysfs sysfs "$1/sys"; mounted+=("$1/sys")
    mount --rbind /dev "$1/dev"; mount --make-rslave "$1/dev"; mounted+=("$1/dev")
}
trap unmount_all EXIT
trap 'unmount_all; exit 130' INT TERM

build() {
    [ -f "$root/.weightfs-complete" ] && return 0
    command -v debootstrap >/dev/null || { echo "root.sh: debootstrap is not installed" >&2; exit 1; }
    mkdir -p "$cache"
    local tmp="$cache/building-$key"
    rm -rf "$tmp"
    echo "root.sh: building the Debian testing client root (a few minutes) in $root" >&2
    local t0=$SECONDS
    local s1; s1="$(packages stage1 | tr -s ' ' ',' | sed 's/^,//; s/,$//')"
    # Debian 12's debootstrap has no "forky" script: use sid's, which fits testing.
    debootstrap --variant=minbase --include="$s1" forky "$tmp" "$(mirror)" /usr/share/debootstrap/scripts/sid >&2
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    bind_system "$tmp"
    chroot "$tmp" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $(packages stage2) >&2
    chroot "$tmp" apt-get clean
    unmount_all
    touch "$tmp/.weightfs-complete"
    # Replace any stale root (older package list) with the new one.
    rm -rf "$cache"/root-*
    mv "$tmp" "$root"
    echo "root.sh: root ready in $((SECONDS - t0)) s" >&2
}

case "${1:-}" in
    path) build; echo "$root" ;;
    run)
        shift
        build
        bind_system "$root"
        set +e
        chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            LANG=C.UTF-8 "$@"
        rc=$?
        unmount_all
        exit $rc ;;
    *) echo "usage: root.sh path | run CMD..." >&2; exit 2 ;;
esac

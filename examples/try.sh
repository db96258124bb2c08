#!/bin/bash
# One command from a fresh clone: install dependencies, build, mount the built-in example models
# on ./mnt, and show what to try. Unmount with: fusermount3 -u mnt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
packaging/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build -j2
mkdir -p mnt
if mountpoint -q mnt; then fusermount3 -u mnt; fi
./build/src/weightfs examples/models mnt -o cache=256M
echo
echo "weightfs is serving examples/models on $(pwd)/mnt"
echo
ls -l mnt/concat mnt/concat/*
echo
echo "Try:"
echo "  cmp mnt/concat/llama-split/tiny-llama-Q4_K_S.gguf tests/data/gguf/split/tiny-llama-Q4_K_S.merged.gguf  # = llama-gguf-split --merge"
echo "  cat mnt/.weightfs/status          # cache, page kind, NUMA policy, fill and read rates"
echo "  cat mnt/.weightfs/models          # what each view shows, and what was skipped and why"
echo "  getfattr -d mnt/concat/llama-split/tiny-llama-Q4_K_S.gguf   # user.weightfs.source / .view"
echo "  llama-server -m $(pwd)/mnt/concat/llama-split/tiny-llama-Q4_K_S.gguf   # if llama.cpp is installed"
echo "  fusermount3 -u mnt                # unmount"

#!/bin/bash
# llama.cpp's converter on an FP8 checkpoint through bf16/ (no GPU, no 1.3 TB of BF16 on disk):
#   examples/convert-bf16.sh /mnt/w/bf16/DeepSeek-V3 out.gguf
set -euo pipefail
conv=/usr/share/doc/llama.cpp-tools/scripts/convert_hf_to_gguf.py
[ -f "$conv" ] || conv="$(command -v convert_hf_to_gguf.py || true)"
[ -n "$conv" ] || { echo "convert_hf_to_gguf.py not found (Debian testing: apt install llama.cpp-tools)"; exit 1; }
exec python3 "$conv" "${1:?bf16 model dir}" --outtype bf16 --outfile "${2:?output .gguf}"

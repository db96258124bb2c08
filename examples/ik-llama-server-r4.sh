#!/bin/bash
# ik_llama.cpp on r4/: repacked tensors with mmap, no -rtr, no second copy on disk.
# Mount so that only the experts kept on the CPU are repacked (the GPU takes the rest):
#   weightfs /models /mnt/w -o cache=64G,repack=exps
#   examples/ik-llama-server-r4.sh /mnt/w/r4/DeepSeek-V3-0324-UD-Q4_K_XL.gguf
set -euo pipefail
model="${1:?usage: $0 /mnt/w/r4/<model>.gguf [llama-server args]}"; shift
command -v llama-server >/dev/null || { echo "ik_llama.cpp's llama-server is not on PATH (build ik_llama.cpp)"; exit 1; }
exec llama-server -m "$model" -ngl 99 -ot exps=CPU --host 127.0.0.1 --port 8080 "$@"

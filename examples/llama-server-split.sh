#!/bin/bash
# Run mainline llama-server on a gguf-split set through concat/: no merge step, no second copy.
#   examples/llama-server-split.sh /mnt/w/concat/DeepSeek-V3-Q4_K_M.gguf [extra llama-server args]
set -euo pipefail
model="${1:?usage: $0 /mnt/w/concat/<model>.gguf [llama-server args]}"; shift
command -v llama-server >/dev/null || { echo "llama-server is not installed (Debian testing: apt install llama.cpp-tools)"; exit 1; }
exec llama-server -m "$model" --host 127.0.0.1 --port 8080 "$@"

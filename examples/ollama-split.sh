#!/bin/bash
# Ollama cannot import a split GGUF; through concat/ it is one file:
#   examples/ollama-split.sh /mnt/w/concat/Kimi-K2-Q2_K.gguf kimi-k2
set -euo pipefail
model="${1:?usage: $0 /mnt/w/concat/<model>.gguf NAME}"; name="${2:?NAME}"
command -v ollama >/dev/null || { echo "ollama is not installed"; exit 1; }
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
printf 'FROM %s\n' "$model" > "$dir/Modelfile"
exec ollama create "$name" -f "$dir/Modelfile"

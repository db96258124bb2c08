#!/usr/bin/python3
"""Load a checkpoint through the mount with transformers: concat/ serves it as-is from the
hugepage cache, bf16/ serves an FP8 checkpoint as BF16 (no quantization_config left):
    python3 examples/transformers-load.py /mnt/w/bf16/DeepSeek-V3"""
import sys

try:
    import torch
    import transformers
except ImportError:
    sys.exit("transformers/torch are not installed (Debian testing: apt install python3-transformers python3-torch)")

path = sys.argv[1]
tok = transformers.AutoTokenizer.from_pretrained(path)
model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
ids = tok("The filesystem serves", return_tensors="pt").input_ids
with torch.no_grad():
    out = model.generate(ids, max_new_tokens=16, do_sample=False)
print(tok.decode(out[0]))

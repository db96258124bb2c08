#!/usr/bin/python3
"""Load a Hugging Face checkpoint through the mount with transformers (concat/ serves it as-is,
from the hugepage cache): python3 examples/transformers-concat.py /mnt/w/concat/hf/Llama-3-8B"""
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

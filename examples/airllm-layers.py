#!/usr/bin/python3
"""AirLLM on layers/: the split step is skipped because splitted_model/ is already complete.
    python3 examples/airllm-layers.py /mnt/w/layers/Llama-3-70B"""
import sys

try:
    from airllm import AutoModel
except ImportError:
    sys.exit("AirLLM is not installed (pip install airllm); the layer files are at <path>/splitted_model/")

model = AutoModel.from_pretrained(sys.argv[1])  # finds every <module>.safetensors + .done: no split
ids = model.tokenizer(["The filesystem serves"], return_tensors="pt").input_ids
print(model.tokenizer.decode(model.generate(ids, max_new_tokens=16, use_cache=True).sequences[0]))

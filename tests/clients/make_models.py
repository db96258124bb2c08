"""Runs inside the Debian testing root: makes the client-tier models with the real tools.

    make_models.py OUT

OUT/src/  the SOURCE weightfs mounts:
    hf/llama-gqa/      LlamaForCausalLM (GQA) saved sharded by save_pretrained, with a
                       sentencepiece tokenizer trained here
    hf/llama-single/   the same model saved as one model.safetensors
    hf/qwen3moe/, hf/mixtral/, hf/deepseek-v3/   MoE models (DeepSeek: MLA + MoE), sharded
    gguf/              convert_hf_to_gguf.py + llama-quantize outputs, split by llama-gguf-split
OUT/ref/  reference outputs of the offline tools (outside SOURCE): merged split sets
OUT/models.json   what was made, for the checks
"""
import json
import os
import shutil
import subprocess
import sys
import time

import sentencepiece as spm
import torch
import transformers

OUT = sys.argv[1]
SRC = os.path.join(OUT, "src")
REF = os.path.join(OUT, "ref")
CONVERT = "/usr/share/doc/llama.cpp-tools/scripts/convert_hf_to_gguf.py"
t0 = time.time()


def log(msg):
    print(f"[make_models {time.time() - t0:6.1f}s] {msg}", flush=True)


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def tokenizer():
    text = os.path.join(OUT, "corpus.txt")
    words = ("the model reads weights from a virtual file system and every byte is exact "
             "large language models run on big machines with many cores and much memory "
             "quantized tensors are repacked merged split and streamed layer by layer").split()
    with open(text, "w") as f:
        for i in range(2000):
            f.write(" ".join(words[(i * 7 + k * 3) % len(words)] for k in range(12)) + ".\n")
    prefix = os.path.join(OUT, "tok")
    spm.SentencePieceTrainer.train(input=text, model_prefix=prefix, vocab_size=320, model_type="bpe",
                                   byte_fallback=True, character_coverage=1.0, num_threads=2,
                                   bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=2)
    # transformers 5 builds its tokenizer from a directory holding the sentencepiece model.
    d = os.path.join(OUT, "tokenizer")
    os.makedirs(d)
    shutil.copy(prefix + ".model", os.path.join(d, "tokenizer.model"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer"}, f)
    tok = transformers.LlamaTokenizer.from_pretrained(d)
    assert len(tok) == 320, f"tokenizer has {len(tok)} tokens"
    return tok


def save(model, tok, rel, shard=None):
    d = os.path.join(SRC, "hf", rel)
    model.save_pretrained(d, max_shard_size=shard) if shard else model.save_pretrained(d)
    tok.save_pretrained(d)
    # As released Llama checkpoints do: the converter reads the vocabulary from tokenizer.model.
    shutil.copy(os.path.join(OUT, "tok.model"), os.path.join(d, "tokenizer.model"))
    log(f"saved {rel}: {sorted(os.listdir(d))}")
    return d


def fp8_checkpoint(src, out):
    """DeepSeek's layout: every 2-D projection weight as float8_e4m3fn with a float32
    weight_scale_inv per 128x128 block (edge blocks partial); embeddings, norms and head stay
    BF16; three shards with an index; quantization_config in config.json."""
    from safetensors.torch import load_file, save_file
    os.makedirs(out)
    state = {k: v.to(torch.bfloat16) for k, v in load_file(os.path.join(src, "model.safetensors")).items()}
    tensors = {}
    for name, w in state.items():
        if w.dim() == 2 and name.endswith("proj.weight"):
            rows, cols = w.shape
            gr, gc = -(-rows // 128), -(-cols // 128)
            wf = w.float()
            scale = torch.empty(gr, gc, dtype=torch.float32)
            q = torch.empty(rows, cols, dtype=torch.float8_e4m3fn)
            for i in range(gr):
                for j in range(gc):
                    blk = wf[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
                    s = blk.abs().max().clamp(min=1e-12) / 448.0
                    scale[i, j] = s
                    q[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = (blk / s).to(torch.float8_e4m3fn)
            tensors[name] = q
            tensors[name + "_scale_inv"] = scale
        else:
            tensors[name] = w
    names = list(tensors)
    shards = [names[i::3] for i in range(3)]  # weights and their scales often land in different shards
    weight_map = {}
    for k, part in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-00003.safetensors"
        save_file({n: tensors[n].contiguous() for n in part}, os.path.join(out, fname), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                  "weight_block_size": [128, 128]}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in os.listdir(src):
        if name.startswith("tokenizer") or name == "generation_config.json":
            shutil.copy(os.path.join(src, name), out)


def compressed_tensors_checkpoint(src, out):
    """llm-compressor's FP8_DYNAMIC layout: every projection weight float8_e4m3fn with a BF16
    per-channel weight_scale [out, 1] (a multiplier), one file, compressed-tensors config."""
    from safetensors.torch import load_file, save_file
    os.makedirs(out)
    tensors = {}
    for name, w in load_file(os.path.join(src, "model.safetensors")).items():
        w = w.to(torch.bfloat16)
        if w.dim() == 2 and name.endswith("proj.weight"):
            scale = (w.float().abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 448.0).to(torch.bfloat16)
            tensors[name] = (w.float() / scale.float()).to(torch.float8_e4m3fn)
            tensors[name + "_scale"] = scale
        else:
            tensors[name] = w
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["quantization_config"] = {"quant_method": "compressed-tensors", "format": "float-quantized",
                                  "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
                                      "num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True}}}}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in os.listdir(src):
        if name.startswith("tokenizer") or name == "generation_config.json":
            shutil.copy(os.path.join(src, name), out)


def fp8_cast_bf16_port(src, out):
    """A torch CPU port of DeepSeek's inference/fp8_cast_bf16.py, written from
    reference/fp8-bf16.md: (fp8.float() * scale per 128x128 block).to(bfloat16), scales dropped,
    save_file without metadata, index as json.dump(indent=2); config without quantization_config."""
    from safetensors.torch import load_file, save_file
    os.makedirs(out)
    index = json.load(open(os.path.join(src, "model.safetensors.index.json")))
    weight_map = index["weight_map"]
    loaded = {}

    def tensor(name):
        f = weight_map[name]
        if f not in loaded:
            loaded[f] = load_file(os.path.join(src, f))
        return loaded[f][name]

    converted = []
    for f in sorted(x for x in os.listdir(src) if x.endswith(".safetensors")):
        state = load_file(os.path.join(src, f))
        new = {}
        for name, w in state.items():
            if name.endswith("_scale_inv"):
                continue
            if w.element_size() == 1 and name + "_scale_inv" in weight_map:
                s = tensor(name + "_scale_inv").float()
                full = s.repeat_interleave(128, 0).repeat_interleave(128, 1)[:w.shape[0], :w.shape[1]]
                new[name] = (w.float() * full).to(torch.bfloat16)
                converted.append(name)
            else:
                new[name] = w
        save_file(new, os.path.join(out, f))
    for name in converted:
        weight_map.pop(name + "_scale_inv", None)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg.pop("quantization_config")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in os.listdir(src):
        if name.startswith("tokenizer") or name == "generation_config.json":
            shutil.copy(os.path.join(src, name), out)


def main():
    os.makedirs(SRC, exist_ok=True)
    os.makedirs(REF, exist_ok=True)
    torch.manual_seed(1234)
    tok = tokenizer()
    made = {"hf": {}, "gguf_sets": [], "gguf_singles": [], "versions": {
        "transformers": transformers.__version__, "torch": torch.__version__}}

    # Llama with grouped-query attention, big enough (a few MB) to split by size.
    cfg = transformers.LlamaConfig(vocab_size=320, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                                   num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512,
                                   bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    llama = transformers.LlamaForCausalLM(cfg).eval()
    made["hf"]["llama-gqa"] = save(llama, tok, "llama-gqa", shard="1MB")
    made["hf"]["llama-single"] = save(llama, tok, "llama-single")

    qcfg = transformers.Qwen3MoeConfig(vocab_size=320, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                                       num_experts=4, num_experts_per_tok=2, num_hidden_layers=2, num_attention_heads=4,
                                       num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                                       bos_token_id=1, eos_token_id=2, decoder_sparse_step=1, mlp_only_layers=[])
    made["hf"]["qwen3moe"] = save(transformers.Qwen3MoeForCausalLM(qcfg).eval(), tok, "qwen3moe", shard="100KB")

    mcfg = transformers.MixtralConfig(vocab_size=320, hidden_size=64, intermediate_size=128, num_local_experts=4,
                                      num_experts_per_tok=2, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1, eos_token_id=2)
    made["hf"]["mixtral"] = save(transformers.MixtralForCausalLM(mcfg).eval(), tok, "mixtral", shard="100KB")

    try:
        dcfg = transformers.DeepseekV3Config(vocab_size=320, hidden_size=64, intermediate_size=128,
                                             moe_intermediate_size=32, n_routed_experts=4, n_shared_experts=1,
                                             num_experts_per_tok=2, first_k_dense_replace=1, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=16,
                                             q_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
                                             n_group=1, topk_group=1, max_position_embeddings=256,
                                             bos_token_id=1, eos_token_id=2)
        made["hf"]["deepseek-v3"] = save(transformers.DeepseekV3ForCausalLM(dcfg).eval(), tok, "deepseek-v3", shard="200KB")
    except Exception as e:  # noqa: BLE001 — reported: the checks say plainly what was not made
        made["deepseek_error"] = repr(e)
        log(f"DeepSeek-V3 config refused by transformers: {e!r}")

    fp8_checkpoint(made["hf"]["llama-single"], os.path.join(SRC, "hf", "llama-fp8"))
    made["fp8"] = {"src": os.path.join(SRC, "hf", "llama-fp8"), "ref": os.path.join(REF, "llama-fp8-bf16")}
    fp8_cast_bf16_port(made["fp8"]["src"], made["fp8"]["ref"])
    compressed_tensors_checkpoint(made["hf"]["llama-single"], os.path.join(SRC, "hf", "llama-ct-fp8"))
    made["ct_fp8"] = os.path.join(SRC, "hf", "llama-ct-fp8")
    log("FP8 checkpoint and its torch-port BF16 copy written")

    # GGUFs with the real converter and quantizer, split by the real gguf-split.
    g = os.path.join(SRC, "gguf")
    os.makedirs(g)
    tmp = os.path.join(OUT, "tmp")
    os.makedirs(tmp)
    f16 = os.path.join(tmp, "llama-F16.gguf")
    run("python3", CONVERT, made["hf"]["llama-single"], "--outtype", "f16", "--outfile", f16, "--model-name", "llama-gqa")
    q8 = os.path.join(tmp, "llama-Q8_0.gguf")
    q4 = os.path.join(g, "llama-Q4_K_M.gguf")
    run("llama-quantize", f16, q8, "Q8_0")
    run("llama-quantize", f16, q4, "Q4_K_M")
    made["gguf_singles"].append(q4)
    # The MoE GGUF comes from Mixtral: convert_hf_to_gguf.py takes Qwen3-MoE's vocabulary only as
    # a GPT-2 BPE tokenizer whose hash matches a released model, which a tokenizer trained here
    # cannot; Mixtral goes through the sentencepiece path and gives the same 3-D ffn_*_exps tensors.
    mf16 = os.path.join(tmp, "mixtral-F16.gguf")
    run("python3", CONVERT, made["hf"]["mixtral"], "--outtype", "f16", "--outfile", mf16, "--model-name", "mixtral")
    mq = os.path.join(tmp, "mixtral-Q8_0.gguf")
    run("llama-quantize", mf16, mq, "Q8_0")
    log("converted and quantized")

    for whole, prefix, how in ((f16, "llama-F16", ["--split-max-tensors", "7"]),
                               (q8, "llama-Q8_0", ["--split-max-size", "1M"]),
                               (mq, "mixtral-Q8_0", ["--split-max-tensors", "10"])):
        run("llama-gguf-split", "--split", *how, whole, os.path.join(g, prefix))
        shards = sorted(f for f in os.listdir(g) if f.startswith(prefix + "-0"))
        merged = os.path.join(REF, prefix + ".merged.gguf")
        run("llama-gguf-split", "--merge", os.path.join(g, shards[0]), merged)
        made["gguf_sets"].append({"prefix": prefix, "shards": [os.path.join(g, s) for s in shards],
                                  "merged": merged, "whole": whole, "split": " ".join(how)})
        log(f"split {prefix} into {len(shards)} shards ({' '.join(how)})")
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump(made, f, indent=1)
    log("done")


main()

"""llama2.c version 2 (Q8_0), written from reference/layers.md §4 (stdlib only): the exporter's
bytes for a Llama checkpoint, and a reader that checks every section's size against the config."""
import math
import struct


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def values(dtype, blob):
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + blob[i:i + 2])[0] for i in range(0, len(blob), 2)]
    if dtype == "F16":
        return list(struct.unpack("<%de" % (len(blob) // 2), blob))
    return list(struct.unpack("<%df" % (len(blob) // 4), blob))


def unpermute(rows, heads, cols):
    """HF rotate-half rows back to Meta's interleaved order: row h·hs + 2i + j ← h·hs + j·hs/2 + i."""
    hs = len(rows) // heads
    return [rows[h * hs + j * (hs // 2) + i] for h in range(heads) for i in range(hs // 2) for j in range(2)]


def quantize(x, gs):
    q, s = bytearray(), bytearray()
    for g in range(0, len(x), gs):
        group = x[g:g + gs]
        m = max(abs(v) for v in group)
        scale = f32(m / 127.0)  # fp32 division (double then float rounds the same for floats)
        s += struct.pack("<f", scale)
        for v in group:
            q += struct.pack("<b", 0 if scale == 0 else round(f32(v / scale)))  # round half to even
    return bytes(q) + bytes(s)


def export(tensors, cfg):
    """tensors: {name: (dtype, shape, bytes)}; cfg: the config dict. Returns the .bin bytes."""
    D, L, NH = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    NKV, V = cfg.get("num_key_value_heads", NH), cfg["vocab_size"]
    H = tensors["model.layers.0.mlp.gate_proj.weight"][1][0]
    gs = 64
    while D % gs:
        gs //= 2

    def mat(name, heads=0):
        dtype, shape, blob = tensors[name]
        v = values(dtype, blob)
        if len(shape) == 1:
            return v
        rows = [v[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]
        if heads:
            rows = unpermute(rows, heads, shape[1])
        return [x for r in rows for x in r]

    head = tensors.get("lm_head.weight")
    shared = head is None or cfg.get("tie_word_embeddings", False) or head[2] == tensors["model.embed_tokens.weight"][2]
    out = bytearray(struct.pack("<I", 0x616B3432) + struct.pack("<8i", 2, D, H, L, NH, NKV, V, cfg["max_position_embeddings"]))
    out += struct.pack("<B", 1 if shared else 0) + struct.pack("<i", gs)
    out += b"\0" * (256 - len(out))
    for kind in ("input_layernorm", "post_attention_layernorm"):
        for l in range(L):
            out += struct.pack("<%df" % D, *mat(f"model.layers.{l}.{kind}.weight"))
    out += struct.pack("<%df" % D, *mat("model.norm.weight"))
    out += quantize(mat("model.embed_tokens.weight"), gs)
    for kind, heads in (("self_attn.q_proj", NH), ("self_attn.k_proj", NKV), ("self_attn.v_proj", 0), ("self_attn.o_proj", 0),
                        ("mlp.gate_proj", 0), ("mlp.down_proj", 0), ("mlp.up_proj", 0)):
        for l in range(L):
            out += quantize(mat(f"model.layers.{l}.{kind}.weight", heads), gs)
    if not shared:
        out += quantize(mat("lm_head.weight"), gs)
    return bytes(out)


def check_layout(data, cfg, hidden):
    """Parses the header and checks every section's size against the config; returns the header."""
    magic, version, D, H, L, NH, NKV, V, S = struct.unpack_from("<I8i", data, 0)
    shared, gs = data[36], struct.unpack_from("<i", data, 37)[0]
    assert magic == 0x616B3432 and version == 2, "magic/version"
    assert (D, H, L, NH, NKV, V, S) == (cfg["hidden_size"], hidden, cfg["num_hidden_layers"], cfg["num_attention_heads"],
                                        cfg.get("num_key_value_heads", NH), cfg["vocab_size"], cfg["max_position_embeddings"])
    assert data[41:256] == b"\0" * 215, "header padding"
    assert D % gs == 0 and (gs == 64 or D % (gs * 2) != 0), "group size"
    KV = NKV * (D // NH)
    sizes = [V * D] + [D * D] * L + [KV * D] * L + [KV * D] * L + [D * D] * L + [H * D] * L + [D * H] * L + [H * D] * L
    if not shared:
        sizes.append(V * D)
    expect = 256 + 4 * (2 * L * D + D) + sum(n + 4 * n // gs for n in sizes)
    assert len(data) == expect, f"size {len(data)}, expected {expect}"
    return {"dim": D, "hidden": H, "layers": L, "shared": shared, "group_size": gs}

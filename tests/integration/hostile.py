"""A hostile corpus, generated (not hand-picked): every header field of a small valid GGUF and a
small valid safetensors file truncated at its boundaries and set to extreme values, plus the
structural lies a parser must catch — type ids, names, offsets, shapes, JSON that lies, nests or
balloons. generate(root) writes it under root and returns the relative paths of the files that
must be refused (each is listed in .weightfs/models)."""
import json
import os
import struct

GGUF_STRING, GGUF_ARRAY, GGUF_U32 = 8, 9, 4
Q4_0, F32, F16 = 2, 0, 1
EXTREMES = (2**63 - 1, 2**63, 2**64 - 1, 2**32 + 1)


def _kv_string(key, value):
    k, v = key.encode(), value.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<i", GGUF_STRING) + struct.pack("<Q", len(v)) + v


class Gguf:
    """A valid GGUF built field by field; `fields` records (name, offset, size) of every header
    field so mutations can target each one."""

    def __init__(self):
        self.kv = [("general.architecture", "s", "llama"), ("general.name", "s", "hostile"),
                   ("tokenizer.ggml.tokens", "a", ["<s>", "</s>", "hello", "world"]),
                   ("general.quantization_version", "u", 2)]
        self.tensors = [("token_embd.weight", [64, 8], Q4_0), ("blk.0.attn_q.weight", [64, 16], Q4_0),
                        ("blk.0.attn_norm.weight", [64], F32), ("output.weight", [64, 4], F16)]

    @staticmethod
    def nbytes(shape, t):
        n = 1
        for d in shape:
            n *= d
        return {Q4_0: n // 32 * 18, F32: n * 4, F16: n * 2}[t]

    def build(self):
        out, fields = bytearray(), []

        def put(name, data):
            fields.append((name, len(out), len(data)))
            out.extend(data)

        put("magic", b"GGUF")
        put("version", struct.pack("<I", 3))
        put("n_tensors", struct.pack("<q", len(self.tensors)))
        put("n_kv", struct.pack("<q", len(self.kv)))
        for i, (key, kind, value) in enumerate(self.kv):
            k = key.encode()
            put(f"kv{i}.key_len", struct.pack("<Q", len(k)))
            put(f"kv{i}.key", k)
            if kind == "s":
                put(f"kv{i}.type", struct.pack("<i", GGUF_STRING))
                put(f"kv{i}.str_len", struct.pack("<Q", len(value)))
                put(f"kv{i}.str", value.encode())
            elif kind == "u":
                put(f"kv{i}.type", struct.pack("<i", GGUF_U32))
                put(f"kv{i}.u32", struct.pack("<I", value))
            else:
                put(f"kv{i}.type", struct.pack("<i", GGUF_ARRAY))
                put(f"kv{i}.elem_type", struct.pack("<i", GGUF_STRING))
                put(f"kv{i}.arr_len", struct.pack("<Q", len(value)))
                for j, s in enumerate(value):
                    put(f"kv{i}.arr{j}.len", struct.pack("<Q", len(s)))
                    put(f"kv{i}.arr{j}", s.encode())
        offset = 0
        for i, (name, shape, t) in enumerate(self.tensors):
            put(f"t{i}.name_len", struct.pack("<Q", len(name)))
            put(f"t{i}.name", name.encode())
            put(f"t{i}.n_dims", struct.pack("<I", len(shape)))
            for d, n in enumerate(shape):
                put(f"t{i}.ne{d}", struct.pack("<q", n))
            put(f"t{i}.type", struct.pack("<i", t))
            put(f"t{i}.offset", struct.pack("<Q", offset))
            offset += (self.nbytes(shape, t) + 31) // 32 * 32
        out.extend(b"\0" * (-len(out) % 32))
        data_start = len(out)
        for i, (name, shape, t) in enumerate(self.tensors):
            blob = bytes((i * 7 + k) % 251 for k in range(self.nbytes(shape, t)))
            out.extend(blob + b"\0" * (-len(blob) % 32))
        return bytes(out), fields, data_start


def gguf_corpus():
    """{name: bytes} of broken GGUFs, and the valid one they are made from."""
    good, fields, data_start = Gguf().build()
    field = {name: (off, size) for name, off, size in fields}
    bad = {}

    # Truncated at every field boundary and inside every field, and inside the data.
    for name, off, size in fields:
        bad[f"trunc-at-{name}"] = good[:off]
        if size > 1:
            bad[f"trunc-in-{name}"] = good[:off + size // 2]
    bad["trunc-in-data"] = good[:data_start + 10]
    bad["trunc-last-byte"] = good[:-1]

    def patched(name, value, fmt):
        off, size = field[name]
        b = bytearray(good)
        b[off:off + size] = struct.pack(fmt, value)[:size].ljust(size, b"\0")
        return bytes(b)

    # Every count, length, dimension and offset set to extreme values.
    for name, off, size in fields:
        if size != 8 or not any(name.endswith(s) for s in ("n_tensors", "n_kv", "_len", "offset")) and ".ne" not in name:
            continue
        for v in EXTREMES:
            bad[f"huge-{name}-{v:x}"] = patched(name, v, "<Q")
    # Dimensions: negative, overflowing products, not a whole number of blocks.
    bad["dims-negative"] = patched("t1.ne1", -16, "<q")
    bad["dims-product-overflows"] = patched("t1.ne1", 2**62, "<q")
    bad["dims-not-whole-blocks"] = patched("t1.ne0", 63, "<q")
    bad["n-dims-5"] = patched("t0.n_dims", 5, "<I")
    bad["n-dims-huge"] = patched("t0.n_dims", 2**31, "<I")
    # Type ids: removed (Q4_2/Q4_3 = 4/5), unknown, negative; KV value and array element types.
    for v in (4, 5, 200, 1000, -1, 2**31 - 1):
        bad[f"tensor-type-{v}"] = patched("t1.type", v, "<i")
    for v in (13, 99, -1):
        bad[f"kv-type-{v}"] = patched("kv1.type", v, "<i")
        bad[f"array-elem-type-{v}"] = patched("kv2.elem_type", v, "<i")
    bad["array-of-arrays"] = patched("kv2.elem_type", GGUF_ARRAY, "<i")
    # Offsets: overlapping, non-contiguous, unaligned, out of the file.
    t0 = field["t0.offset"]
    bad["offset-overlapping"] = patched("t1.offset", 0, "<Q")
    bad["offset-gap"] = patched("t1.offset", struct.unpack_from("<Q", good, field["t1.offset"][0])[0] + 32, "<Q")
    bad["offset-unaligned"] = patched("t1.offset", 1, "<Q")
    bad["offset-past-end"] = patched("t3.offset", len(good), "<Q")
    bad["bad-magic"] = patched("magic", 0x46554746, "<I")
    for v in (0, 1, 4, 0x03000000):
        bad[f"version-{v}"] = patched("version", v, "<I")

    # Structural lies that need the header rebuilt.
    def variant(**changes):
        g = Gguf()
        for k, v in changes.items():
            setattr(g, k, v)
        return g.build()[0]

    base = Gguf()
    long64 = "blk.0." + "x" * 58  # 64 bytes: one more than ggml allows
    bad["name-64-bytes"] = variant(tensors=[(long64, [64, 8], Q4_0)] + base.tensors[1:])
    bad["name-200-bytes"] = variant(tensors=[("y" * 200, [64, 8], Q4_0)] + base.tensors[1:])
    bad["duplicate-tensor"] = variant(tensors=base.tensors[:2] + [base.tensors[1]] + base.tensors[3:])
    bad["duplicate-key"] = variant(kv=base.kv + [base.kv[0]])
    bad["empty-key"] = variant(kv=base.kv + [("", "s", "x")])
    bad["alignment-not-power-of-two"] = variant(kv=base.kv + [("general.alignment", "u", 48)])
    bad["alignment-zero"] = variant(kv=base.kv + [("general.alignment", "u", 0)])
    return good, bad


def safetensors_file(header, data):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def st_corpus():
    """{name: bytes} of broken safetensors files, and a valid one."""
    tensors = {"model.embed_tokens.weight": ("BF16", [8, 4]), "model.norm.weight": ("F32", [4]),
               "lm_head.weight": ("BF16", [8, 4])}
    header, off = {}, 0
    sizes = {"BF16": 2, "F32": 4}
    for name, (dt, shape) in tensors.items():
        n = sizes[dt]
        for d in shape:
            n *= d
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    data = bytes(k % 253 for k in range(off))
    good = safetensors_file(header, data)
    bad = {}
    hlen = struct.unpack_from("<Q", good)[0]
    for cut in sorted({0, 4, 7, 8, 9, 8 + hlen // 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1, len(good) - 1}):
        bad[f"trunc-{cut}"] = good[:cut]
    for v in EXTREMES + (0, len(good), 100_000_001):
        bad[f"header-len-{v:x}"] = struct.pack("<Q", v) + good[8:]

    def lie(name, mutate):
        h = json.loads(json.dumps(header))
        mutate(h)
        bad[name] = safetensors_file(h, data)

    e, n = "model.embed_tokens.weight", "model.norm.weight"
    lie("dtype-unknown", lambda h: h[e].update(dtype="F99"))
    lie("dtype-not-a-string", lambda h: h[e].update(dtype=7))
    lie("shape-negative", lambda h: h[e].update(shape=[-8, 4]))
    lie("shape-float", lambda h: h[e].update(shape=[8.5, 4]))
    lie("shape-overflows", lambda h: h[e].update(shape=[2**40, 2**40, 2**40]))
    lie("shape-size-mismatch", lambda h: h[e].update(shape=[8, 5]))
    lie("offsets-reversed", lambda h: h[e].update(data_offsets=[64, 0]))
    lie("offsets-past-end", lambda h: h[n].update(data_offsets=[64, 64 + 16 + 4096]))
    lie("offsets-overlap", lambda h: h[n].update(data_offsets=[0, 16]))
    lie("offsets-huge", lambda h: h[n].update(data_offsets=[2**64 - 16, 2**64]))
    lie("offsets-missing", lambda h: h[n].pop("data_offsets"))
    lie("offsets-three", lambda h: h[n].update(data_offsets=[64, 80, 96]))
    lie("tensor-not-an-object", lambda h: h.update({n: [1, 2]}))
    lie("metadata-not-strings", lambda h: h.update(__metadata__={"format": {"nested": 1}}))
    bad["json-not-json"] = safetensors_file(b"{this is not json}      ", data)
    bad["json-not-an-object"] = safetensors_file(b"[1,2,3]", data)
    bad["json-duplicate-keys"] = safetensors_file(
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        data)
    bad["json-deeply-nested"] = safetensors_file(b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}", data)
    # 40 MB of JSON: a million tiny entries that all lie about their offsets.
    entries = ",".join('"t%d":{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]}' % (i, 2 * i, 2 * i + 1)
                       for i in range(700_000))
    bad["json-huge"] = safetensors_file(("{" + entries + "}").encode(), b"\0" * 1_400_000)
    return good, bad


def generate(root):
    """Writes the corpus under root; returns (bad paths relative to root, good paths)."""
    bad_paths, good_paths = [], []
    os.makedirs(os.path.join(root, "gguf"))
    good, bad = gguf_corpus()
    with open(os.path.join(root, "gguf", "good.gguf"), "wb") as f:
        f.write(good)
    good_paths.append("gguf/good.gguf")
    for name, blob in bad.items():
        with open(os.path.join(root, "gguf", name + ".gguf"), "wb") as f:
            f.write(blob)
        bad_paths.append(f"gguf/{name}.gguf")
    # Claims only a large (sparse) file makes plausible: counts that fill 8 GiB, and arrays of
    # millions of empty strings (zeros) — one within the 64 MiB header limit, one beyond it.
    def sparse(name, head):
        path = os.path.join(root, "gguf", name + ".gguf")
        with open(path, "wb") as f:
            f.write(head)
        os.truncate(path, 8 << 30)
        bad_paths.append(f"gguf/{name}.gguf")

    for name, field, value in (("sparse-kv-count", 16, 2**24), ("sparse-tensor-count", 8, 2**21)):
        b = bytearray(good)
        struct.pack_into("<q", b, field, value)
        sparse(name, bytes(b))
    for name, n in (("sparse-array-16MiB", 2**21), ("sparse-array-128MiB", 2**24)):
        key = b"tokenizer.ggml.tokens"
        sparse(name, b"GGUF" + struct.pack("<Iqq", 3, 0, 2) + struct.pack("<Q", len(key)) + key +
               struct.pack("<iiQ", GGUF_ARRAY, GGUF_STRING, n))

    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4,
              "num_hidden_layers": 0, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
    good, bad = st_corpus()
    for name, blob in [("good", good)] + list(bad.items()):
        d = os.path.join(root, "st", name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(blob)
        (good_paths if name == "good" else bad_paths).append(f"st/{name}/model.safetensors")

    # Sharded checkpoints whose index or config lies.
    def sharded(name, index=None, config_text=None):
        d = os.path.join(root, "hf", name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config_text if config_text is not None else json.dumps(config))
        with open(os.path.join(d, "model-00001-of-00001.safetensors"), "wb") as f:
            f.write(good)
        if index is not None:
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                f.write(index if isinstance(index, str) else json.dumps(index))
        return f"hf/{name}"

    wm = {"model.embed_tokens.weight": "model-00001-of-00001.safetensors",
          "model.norm.weight": "model-00001-of-00001.safetensors", "lm_head.weight": "model-00001-of-00001.safetensors"}
    bad_paths.append(sharded("index-missing-shard", {"weight_map": dict(wm, **{"x.weight": "model-00002-of-00002.safetensors"})}))
    bad_paths.append(sharded("index-escapes", {"weight_map": dict(wm, **{"model.norm.weight": "../../../../etc/passwd"})}))
    bad_paths.append(sharded("index-not-an-object", {"weight_map": ["a", "b"]}))
    bad_paths.append(sharded("index-tensor-not-in-shard", {"weight_map": dict(wm, **{"ghost.weight": "model-00001-of-00001.safetensors"})}))
    bad_paths.append(sharded("index-not-json", "{{{"))
    bad_paths.append(sharded("index-deeply-nested", '{"weight_map":' + "[" * 100_000 + "]" * 100_000 + "}"))
    bad_paths.append(sharded("config-not-json", None, config_text="{\"model_type\": "))
    # Odd but not wrong for every view (layers/ needs only tensor names): must not crash or hang.
    sharded("config-deeply-nested", None, config_text='{"a":' + "{\"b\":" * 100_000 + "1" + "}" * 100_001)
    bad_paths.append(sharded("config-layers-huge", None, config_text=json.dumps(dict(config, num_hidden_layers=2**62))))
    # Sizes llama2c/ accepts (it makes the norms and matrices of every layer) with a layer count no
    # checkpoint holds: refused at once, not a mount that never comes while memory fills.
    bad_paths.append(sharded("config-llama-layers-huge", None, config_text=json.dumps(dict(
        config, num_attention_heads=1, vocab_size=8, intermediate_size=8, num_hidden_layers=2**40))))
    return bad_paths, good_paths

"""A small safetensors reader/writer written from the format's description (stdlib only), used
to build test inputs and expected outputs independently of weightfs's C++ writer."""
import json
import struct

# The Rust enum order: save_file sorts by it (descending), then by name.
RANK = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
        "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]


def read(path):
    """{name: (dtype, shape, bytes)} in data order."""
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data, 0)[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], data[8 + n + b:8 + n + e])
    return out


def write(path, tensors):
    """tensors: {name: (dtype, shape, bytes)} → the bytes safetensors' save_file writes."""
    order = sorted(tensors, key=lambda k: (-RANK.index(tensors[k][0]), k.encode()))
    parts, off = [], 0
    for name in order:
        dtype, shape, blob = tensors[name]
        parts.append(json.dumps(name, ensure_ascii=False) + ':{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}' % (
            dtype, ",".join(str(s) for s in shape), off, off + len(blob)))
        off += len(blob)
    header = ("{" + ",".join(parts) + "}").encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for name in order:
            f.write(tensors[name][2])

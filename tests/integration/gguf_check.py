"""An independent GGUF reader (stdlib only) that knows ik_llama.cpp's type ids: parses the header
and tensor table and checks every tensor's type, shape and bounds. Used on r4/ files, which
mainline readers (gguf-py in Debian) cannot parse because of ik's type ids."""
import struct

# id: (elements per block, bytes per block, per-row metadata bytes), from reference/gguf.md §1.6.
TYPES = {0: (1, 4, 0), 1: (1, 2, 0), 2: (32, 18, 0), 3: (32, 20, 0), 6: (32, 22, 0), 7: (32, 24, 0), 8: (32, 34, 0),
         10: (256, 84, 0), 11: (256, 110, 0), 12: (256, 144, 0), 13: (256, 176, 0), 14: (256, 210, 0),
         16: (256, 66, 0), 17: (256, 74, 0), 18: (256, 98, 0), 19: (256, 50, 0), 20: (32, 18, 0), 21: (256, 110, 0),
         22: (256, 82, 0), 23: (256, 136, 0), 29: (256, 56, 0), 30: (1, 2, 0), 39: (32, 17, 0), 133: (32, 26, 0),
         202: (32, 18, 0), 206: (32, 22, 0), 208: (32, 34, 0), 210: (256, 84, 0), 211: (256, 110, 0),
         212: (256, 144, 0), 213: (256, 176, 0), 214: (256, 210, 0), 216: (256, 66, 0), 217: (256, 74, 0),
         218: (256, 98, 0), 220: (32, 18, 0), 221: (256, 110, 0), 222: (256, 82, 0), 223: (256, 136, 0),
         230: (1, 2, 0), 233: (32, 26, 0), 353: (32, 17, 0),
         135: (64, 16, 4), 137: (256, 76, 0), 138: (256, 110, 0), 139: (256, 144, 0), 140: (256, 176, 0),
         144: (256, 136, 4), 152: (256, 168, 4), 335: (64, 16, 4), 337: (256, 76, 0), 338: (256, 110, 0),
         339: (256, 144, 0), 340: (256, 176, 0), 344: (256, 136, 4), 352: (256, 168, 4)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def check(path):
    """Returns (kv dict of scalars/strings, [(name, type, ne)]) or raises ValueError."""
    data = open(path, "rb").read()
    if data[:4] != b"GGUF":
        raise ValueError("bad magic")
    version, n_t, n_kv = struct.unpack_from("<Iqq", data, 4)
    pos = 24

    def string(pos):
        n = struct.unpack_from("<Q", data, pos)[0]
        if pos + 8 + n > len(data):
            raise ValueError("string past end")
        return data[pos + 8:pos + 8 + n].decode("utf-8", "replace"), pos + 8 + n

    def value(t, pos):
        if t == 8:
            return string(pos)
        if t == 9:
            et, n = struct.unpack_from("<iQ", data, pos)
            pos += 12
            for _ in range(n):
                _, pos = value(et, pos)
            return None, pos
        fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}[t]
        return struct.unpack_from(fmt, data, pos)[0], pos + SCALAR[t]

    kv = {}
    for _ in range(n_kv):
        key, pos = string(pos)
        t = struct.unpack_from("<i", data, pos)[0]
        kv[key], pos = value(t, pos + 4)
    align = kv.get("general.alignment", 32)
    tensors = []
    for _ in range(n_t):
        name, pos = string(pos)
        nd = struct.unpack_from("<I", data, pos)[0]
        ne = list(struct.unpack_from("<%dq" % nd, data, pos + 4))
        typ, off = struct.unpack_from("<iQ", data, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        if typ not in TYPES:
            raise ValueError(f"{name}: unknown type {typ}")
        blk, size, meta = TYPES[typ]
        if ne[0] % blk:
            raise ValueError(f"{name}: ne[0]={ne[0]} is not a multiple of the block size {blk}")
        rows = 1
        for d in ne[1:]:
            rows *= d
        tensors.append((name, typ, ne, off, rows * (meta + ne[0] // blk * size)))
    start = (pos + align - 1) // align * align
    expect = 0
    for name, typ, ne, off, nbytes in tensors:
        if off != expect:
            raise ValueError(f"{name}: offset {off}, expected {expect}")
        if start + off + nbytes > len(data):
            raise ValueError(f"{name}: data past the end of the file")
        expect = off + (nbytes + align - 1) // align * align
    return kv, [(n, t, ne) for n, t, ne, _, _ in tensors]

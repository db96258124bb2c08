"""Small GGUF edits for building hostile inputs in the tests (stdlib only)."""
import struct


def _tensor_infos_offset(data):
    """Offset of the first tensor info (after every KV)."""
    n_kv = struct.unpack_from("<q", data, 16)[0]
    pos = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(t, pos):
        if t == 8:
            return pos + 8 + struct.unpack_from("<Q", data, pos)[0]
        if t == 9:
            et, n = struct.unpack_from("<iQ", data, pos)
            pos += 12
            for _ in range(n):
                pos = skip(et, pos)
            return pos
        return pos + sizes[t]

    for _ in range(n_kv):
        pos += 8 + struct.unpack_from("<Q", data, pos)[0]
        pos = skip(struct.unpack_from("<i", data, pos)[0], pos + 4)
    return pos


def set_first_tensor_type(path, type_id):
    """Overwrites the ggml type id of the first tensor info (a corrupt header)."""
    data = bytearray(open(path, "rb").read())
    pos = _tensor_infos_offset(data)
    pos += 8 + struct.unpack_from("<Q", data, pos)[0]
    n_dims = struct.unpack_from("<I", data, pos)[0]
    struct.pack_into("<i", data, pos + 4 + 8 * n_dims, type_id)
    open(path, "wb").write(bytes(data))


def set_alignment(path, alignment):
    """Appends general.alignment (u32) to a GGUF's KVs, keeping tensor infos and data where the
    original writer put them (which is exactly what makes such a file wrong for gguf-split)."""
    data = bytearray(open(path, "rb").read())
    n_kv = struct.unpack_from("<q", data, 16)[0]
    pos = _tensor_infos_offset(data)
    key = b"general.alignment"
    data[pos:pos] = struct.pack("<Q", len(key)) + key + struct.pack("<iI", 4, alignment)
    struct.pack_into("<q", data, 16, n_kv + 1)
    open(path, "wb").write(bytes(data))

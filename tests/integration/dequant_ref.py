"""Reference dequantizers written from reference/fp8-bf16.md (stdlib only, independent of the C++
code): FP8 E4M3FN decode, the fp32 product, round-to-nearest-even to bf16, MXFP4 (E2M1 × E8M0)."""
import math
import struct


def e4m3(b):
    s, e, m = b >> 7, (b >> 3) & 15, b & 7
    if e == 15 and m == 7:
        return math.nan
    v = math.ldexp(m / 8, -6) if e == 0 else math.ldexp(1 + m / 8, e - 7)
    return -v if s else v


def f32(x):
    """x rounded to binary32 (round to nearest even; overflow to infinity)."""
    if math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def bf16_bits(x):
    """A binary32 value rounded to bf16 (RNE), NaN as 0x7FC0."""
    if math.isnan(x):
        return 0x7FC0
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def scale_value(dtype, raw):
    if dtype == "F32":
        return struct.unpack("<f", raw)[0]
    if dtype == "BF16":
        return struct.unpack("<f", b"\0\0" + raw)[0]
    raise ValueError(dtype)


def dequant_fp8(w, rows, cols, scale_of):
    """w: FP8 bytes [rows, cols]; scale_of(r, c) → fp32 scale. Returns BF16 bytes."""
    out = bytearray()
    for r in range(rows):
        for c in range(cols):
            out += struct.pack("<H", bf16_bits(f32(e4m3(w[r * cols + c]) * scale_of(r, c))))
    return bytes(out)


FP4 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def dequant_mxfp4(blocks, scales, lead, rows, groups):
    """blocks [lead, R, G, 16], scales [lead, R, G] → BF16 [lead, G*32, R] (transposed)."""
    out = bytearray()
    for e in range(lead):
        for k in range(groups * 32):
            for r in range(rows):
                b = (e * rows + r) * groups + k // 32
                byte = blocks[b * 16 + (k % 32) // 2]
                code = byte >> 4 if k % 2 else byte & 15
                p = f32(math.ldexp(1.0, scales[b] - 127)) if scales[b] < 255 else math.inf
                v = FP4[code] * p if not (FP4[code] == 0 and math.isinf(p)) else math.nan
                out += struct.pack("<H", bf16_bits(f32(v)))
    return bytes(out)

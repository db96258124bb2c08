#include "transforms/repack.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "formats/ggml_types.hpp"
#include "transforms/repack_simd.hpp"

namespace wfs::repack {

namespace {

using Blocks = const uint8_t* const*;

inline uint16_t le16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline uint32_t le32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline uint64_t le64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// Most kernels below move four or eight values at once, one per byte of a 32- or 64-bit word:
// masks keep every field inside its byte, so the words need no unpacking.
constexpr uint64_t kBytes1 = 0x0101010101010101ull, kNibbles = 15 * kBytes1;  // a mask in every byte
// Bit i of a byte as byte i (0 or 1) of a word.
constexpr std::array<uint64_t, 256> kBitsToBytes = [] {
    std::array<uint64_t, 256> t{};
    for (uint64_t b = 0; b < 256; ++b)
        for (int i = 0; i < 8; ++i) t[b] |= ((b >> i) & 1) << (8 * i);
    return t;
}();

// Bit b of P(s) is the XOR of bits 0..b of s (ik's scrambled_sign table), for 7-bit s.
constexpr std::array<uint8_t, 128> kPrefixXor = [] {
    std::array<uint8_t, 128> t{};
    for (uint32_t s = 0; s < 128; ++s) {
        uint32_t r = 0, acc = 0;
        for (int b = 0; b < 7; ++b) {
            acc ^= (s >> b) & 1;
            r |= acc << b;
        }
        t[s] = static_cast<uint8_t>(r);
    }
    return t;
}();
inline uint32_t prefix_xor(uint32_t s) { return kPrefixXor[s & 127]; }

// The 7-bit signs + 4-bit scale word of IQ2_XXS / IQ3_XXS, re-encoded (§5.11).
inline uint32_t scrambled_sas(uint32_t w) {
    uint32_t out = 0;
    for (int j = 0; j < 4; ++j) out |= ((prefix_xor((w >> (7 * j)) & 127) << 1) | ((w >> (28 + j)) & 1)) << (8 * j);
    return out;
}

// 4-bit fields of 4 rows' values L[32·ib + …] as nibble pairs (0..3 with 8..11, 16..19 with
// 24..27, 4..7 with 12..15, 20..23 with 28..31 of each sub-block), row k at 4k: the quants of
// Q4_K, Q5_K, Q6_K (low bits) and IQ4_K…IQ5_KS.
inline void gather_nib4(const uint8_t* L, int k, uint8_t* qs) {
    static constexpr int kPair[4][2] = {{0, 8}, {16, 24}, {4, 12}, {20, 28}};
    for (int ib = 0; ib < 8; ++ib)
        for (int p = 0; p < 4; ++p)
            put32(qs + 64 * ib + 16 * p + 4 * k,
                  (le32(L + 32 * ib + kPair[p][0]) & 0x0F0F0F0Fu) | (le32(L + 32 * ib + kPair[p][1]) & 0x0F0F0F0Fu) << 4);
}

// N fields `width` bits wide, at bit `shift` of the bytes base[at[t] + i], packed as field t at
// width·t of output byte i, for i = 0..3 at once: the gathers of every R-block layout.
template <int N>
inline uint32_t pack_fields(const uint8_t* base, const int (&at)[N], int shift, int width) {
    const uint32_t mask = ((1u << width) - 1) * 0x01010101u;
    uint32_t v = 0;
    for (int t = 0; t < N; ++t) v |= ((le32(base + at[t]) >> shift) & mask) << (width * t);
    return v;
}
constexpr int kAt4[4] = {0, 4, 8, 12};

// One bit (bit `bit` of each value) of the 8 values at `at[t] + i` of each sub-block, as bit t.
inline void gather_bit(const uint8_t* L, int k, const int (&at)[8], int bit, uint8_t* qh) {
    for (int ib = 0; ib < 8; ++ib) put32(qh + 16 * ib + 4 * k, pack_fields(L + 32 * ib, at, bit, 1));
}

// ---- 32-element types
template <int N, int QS>  // Q4_0 (QS=16), Q8_0 (QS=32), MXFP4 (1-byte scale: see below)
void r_q_simple(Blocks x, uint8_t* out) {
    for (int k = 0; k < N; ++k) std::memcpy(out + 2 * k, x[k], 2);
    uint8_t* qs = out + 2 * N;
    for (int g = 0; g < QS / 4; ++g)
        for (int k = 0; k < N; ++k) std::memcpy(qs + 32 * g + 4 * k, x[k] + 2 + 4 * g, 4);
}

void r_mxfp4(Blocks x, uint8_t* out) {
    for (int k = 0; k < 8; ++k) out[k] = x[k][0];
    for (int g = 0; g < 4; ++g)
        for (int k = 0; k < 8; ++k) std::memcpy(out + 8 + 32 * g + 4 * k, x[k] + 1 + 4 * g, 4);
}

void r_iq4_nl(Blocks x, uint8_t* out) {
    uint8_t* qs = out + 8;
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, x[k], 2);
        const uint8_t* q = x[k] + 2;
        // Bytes i = 0..3 at once: lo(i) | lo(i+8) << 4, hi(i) | hi(i+8) << 4, then with i + 4.
        for (int half = 0; half < 2; ++half) {
            const uint32_t a = le32(q + 4 * half), b = le32(q + 8 + 4 * half), m = 0x0F0F0F0Fu;
            put32(qs + 32 * half + 4 * k, (a & m) | (b & m) << 4);
            put32(qs + 32 * half + 16 + 4 * k, ((a >> 4) & m) | (b & ~m));
        }
    }
}

// Q5_0 / Q6_0: 5- or 6-bit values L[32], then nibbles + high bits (§5.16).
template <bool Q6>
void r_q5_q6_0(Blocks x, uint8_t* out) {
    constexpr int QH = Q6 ? 32 : 16;
    uint8_t* qh = out + 8;
    uint8_t* qs = out + 8 + QH;
    std::memset(qh, 0, QH);
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, x[k], 2);
        // Values j and j + 16 are the low and high nibble of byte j, with their high bits from
        // h: eight values at a time, one per byte of a 64-bit word.
        const uint8_t* q = x[k] + (Q6 ? 10 : 6);
        const uint64_t n0 = le64(q) & kNibbles, n1 = le64(q + 8) & kNibbles;
        const uint64_t n2 = (le64(q) >> 4) & kNibbles, n3 = (le64(q + 8) >> 4) & kNibbles;
        uint64_t h0, h1, h2, h3;
        if (!Q6) {  // bit j of a 32-bit word
            const uint32_t h = le32(x[k] + 2);
            h0 = kBitsToBytes[h & 255], h1 = kBitsToBytes[(h >> 8) & 255];
            h2 = kBitsToBytes[(h >> 16) & 255], h3 = kBitsToBytes[h >> 24];
        } else {  // 2 bits of byte j % 8, at 4·(j / 8) for value j and 2 above that for j + 16
            const uint64_t hb = le64(x[k] + 2), m = 3 * kBytes1;
            h0 = hb & m, h1 = (hb >> 4) & m, h2 = (hb >> 2) & m, h3 = (hb >> 6) & m;
        }
        uint8_t L[32];
        put64(L, n0 | h0 << 4);
        put64(L + 8, n1 | h1 << 4);
        put64(L + 16, n2 | h2 << 4);
        put64(L + 24, n3 | h3 << 4);
        static constexpr int kA[4] = {0, 16, 4, 20};
        for (int l = 0; l < 4; ++l) {  // values i = 0..3 of each field at once, a byte each
            const uint32_t lo = le32(L + kA[l]), hi = le32(L + kA[l] + 8);
            put32(qs + 16 * l + 4 * k, (lo & 0x0F0F0F0Fu) | (hi & 0x0F0F0F0Fu) << 4);
            constexpr uint32_t kHigh = Q6 ? 0x03030303u : 0x01010101u;  // the bits above the nibble
            const uint32_t hbits = ((lo >> 4) & kHigh) | ((hi >> 4) & kHigh) << 4;
            uint8_t* h = Q6 ? qh + 16 * (l % 2) + 4 * k : qh + 4 * k;
            put32(h, le32(h) | hbits << (Q6 ? 2 * (l / 2) : l));
        }
    }
}

// ---- 256-element K and IQ types

// d and the 4+2-bit sub-block scales of 8 IQ4_XS rows, re-packed (scales_h, scales_l): the first
// 64 bytes of an IQ4_XS_R8 block.
void iq4xs_header(const uint8_t* const* x, uint8_t* out) {
    uint8_t* scales_h = out + 16;
    uint8_t* scales_l = out + 32;
    std::memset(scales_h, 0, 16 + 32);
    for (int k = 0; k < 8; ++k) {
        std::memcpy(out + 2 * k, x[k], 2);
        const uint16_t sh_all = le16(x[k] + 2);
        const uint8_t* sl_all = x[k] + 4;
        for (int ib = 0; ib < 8; ++ib) {
            const int sl = (sl_all[ib / 2] >> (4 * (ib % 2))) & 15, sh = (sh_all >> (2 * ib)) & 3;
            const int s = 8 * ib + k;
            scales_l[s % 32] |= static_cast<uint8_t>(sl << (4 * (s / 32)));
            scales_h[s % 16] |= static_cast<uint8_t>(sh << (2 * (s / 16)));
        }
    }
}

void r_iq4_xs(Blocks x, uint8_t* out) {
    iq4xs_header(x, out);
    uint8_t* qs = out + 64;
    for (int k = 0; k < 8; ++k) {
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t* q = x[k] + 8 + 16 * ib;
            auto lo = [&](int j) { return q[j] & 15; };
            auto hi = [&](int j) { return q[j] >> 4; };
            for (int i = 0; i < 4; ++i) {
                qs[128 * ib + 0 + 4 * k + i] = static_cast<uint8_t>(lo(i) | lo(i + 4) << 4);
                qs[128 * ib + 32 + 4 * k + i] = static_cast<uint8_t>(lo(i + 8) | lo(i + 12) << 4);
                qs[128 * ib + 64 + 4 * k + i] = static_cast<uint8_t>(hi(i) | hi(i + 4) << 4);
                qs[128 * ib + 96 + 4 * k + i] = static_cast<uint8_t>(hi(i + 8) | hi(i + 12) << 4);
            }
        }
    }
}

// K-quant 6-bit scale/min unpack (get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// d, dmin and the 6-bit scales/mins of 4 Q4_K/Q5_K rows, re-packed (scales_l, scales_h).
void q4k_header(const uint8_t* const* x, uint8_t* out) {
    uint8_t* scales_h = out + 16;
    uint8_t* scales_l = out + 32;
    std::memset(scales_h, 0, 16);
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = x[k];
        std::memcpy(out + 2 * k, b, 2);          // d
        std::memcpy(out + 8 + 2 * k, b + 2, 2);  // dmin
        for (int ib = 0; ib < 8; ++ib) {
            int sc, m;
            scale_min_k4(ib, b + 4, sc, m);
            const int s = 4 * ib + k;
            scales_l[s] = static_cast<uint8_t>((sc & 15) | (m & 15) << 4);
            scales_h[s % 16] |= static_cast<uint8_t>(((sc >> 4) | (m >> 4) << 2) << (4 * (s / 16)));
        }
    }
}

template <bool Q5>
void r_q4_q5_k(Blocks x, uint8_t* out) {
    q4k_header(x, out);
    uint8_t* qh = out + 64;
    uint8_t* qs = Q5 ? out + 64 + 128 : out + 64;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = x[k];
        const uint8_t* hsrc = b + 16;
        const uint8_t* q = Q5 ? b + 48 : b + 16;
        uint8_t L[256];
        for (int c = 0; c < 4; ++c)
            for (int j = 0; j < 32; ++j) {
                L[64 * c + j] = static_cast<uint8_t>(q[32 * c + j] & 15);
                L[64 * c + 32 + j] = static_cast<uint8_t>(q[32 * c + j] >> 4);
                if (Q5) {
                    L[64 * c + j] |= static_cast<uint8_t>(((hsrc[j] >> (2 * c)) & 1) << 4);
                    L[64 * c + 32 + j] |= static_cast<uint8_t>(((hsrc[j] >> (2 * c + 1)) & 1) << 4);
                }
            }
        gather_nib4(L, k, qs);
        static constexpr int kFifth[8] = {0, 8, 4, 12, 16, 24, 20, 28};
        if (Q5) gather_bit(L, k, kFifth, 4, qh);
    }
}

void r_q6_k(Blocks x, uint8_t* out) {
    uint8_t* scales = out + 8;
    uint8_t* qh = out + 72;
    uint8_t* ql = out + 72 + 256;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = x[k];
        const uint8_t *sql = b, *sqh = b + 128, *ssc = b + 192;
        std::memcpy(out + 2 * k, b + 208, 2);
        uint8_t L[256];
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; ++l) {
                L[128 * h + l] = static_cast<uint8_t>((sql[64 * h + l] & 15) | ((sqh[32 * h + l] >> 0) & 3) << 4);
                L[128 * h + 32 + l] = static_cast<uint8_t>((sql[64 * h + 32 + l] & 15) | ((sqh[32 * h + l] >> 2) & 3) << 4);
                L[128 * h + 64 + l] = static_cast<uint8_t>((sql[64 * h + l] >> 4) | ((sqh[32 * h + l] >> 4) & 3) << 4);
                L[128 * h + 96 + l] = static_cast<uint8_t>((sql[64 * h + 32 + l] >> 4) | ((sqh[32 * h + l] >> 6) & 3) << 4);
            }
        static constexpr int lo4[4] = {0, 8, 4, 12}, hi4[4] = {16, 24, 20, 28};
        gather_nib4(L, k, ql);
        for (int ib = 0; ib < 8; ++ib) {
            scales[8 * ib + k] = ssc[2 * ib];
            scales[8 * ib + 4 + k] = ssc[2 * ib + 1];
            put32(qh + 32 * ib + 4 * k, pack_fields(L + 32 * ib, lo4, 4, 2));  // the values' top 2 bits
            put32(qh + 32 * ib + 16 + 4 * k, pack_fields(L + 32 * ib, hi4, 4, 2));
        }
    }
}

// The 2-bit gather shared by Q3_K and Q2_K (fields at offsets 0,4,8,12 and 16,20,24,28).
inline void gather_2bit(const uint8_t* L, int k, uint8_t* qs) {
    for (int ib = 0; ib < 8; ++ib)
        for (int h = 0; h < 2; ++h) put32(qs + 32 * ib + 16 * h + 4 * k, pack_fields(L + 32 * ib + 16 * h, kAt4, 0, 2));
}

// The third bits of 3-bit values (Q3_K, IQ3_K): bit s of byte 16ib + 4k + i is value 4s + i
// of sub-block ib.
inline void gather_3rd_bit(const uint8_t* L, int k, uint8_t* qh) {
    static constexpr int kAt[8] = {0, 4, 8, 12, 16, 20, 24, 28};
    gather_bit(L, k, kAt, 2, qh);
}

// d and the 6-bit scales of 4 Q3_K rows, re-packed (4 low bits in scales_l, 2 high in scales_h).
void q3k_header(const uint8_t* const* x, uint8_t* out) {
    uint8_t* scales_h = out + 8;
    uint8_t* scales_l = out + 24;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* sc = x[k] + 96;
        std::memcpy(out + 2 * k, x[k] + 108, 2);
        const uint32_t a0 = le32(sc), a1 = le32(sc + 4), t = le32(sc + 8), m1 = 0x03030303u, m2 = 0x0F0F0F0Fu;
        const uint32_t w[4] = {(a0 & m2) | ((t >> 0) & m1) << 4, (a1 & m2) | ((t >> 2) & m1) << 4,
                               ((a0 >> 4) & m2) | ((t >> 4) & m1) << 4, ((a1 >> 4) & m2) | ((t >> 6) & m1) << 4};
        uint8_t S[16];
        std::memcpy(S, w, 16);
        // Scale s = 8ib + 4half + k of the group: its low nibble goes to scales_l byte s % 32
        // (high nibble of it from s ≥ 32), its top 2 bits to scales_h byte s % 16 at 2·(s / 16).
        for (int half = 0; half < 2; ++half) {
            for (int ib = 0; ib < 4; ++ib)
                scales_l[8 * ib + 4 * half + k] = static_cast<uint8_t>((S[2 * ib + half] & 15) | (S[2 * ib + 8 + half] & 15) << 4);
            for (int ib = 0; ib < 2; ++ib) {
                int v = 0;
                for (int t = 0; t < 4; ++t) v |= (S[2 * (ib + 2 * t) + half] >> 4) << (2 * t);
                scales_h[8 * ib + 4 * half + k] = static_cast<uint8_t>(v);
            }
        }
    }
}

void r_q3_k(Blocks x, uint8_t* out) {
    q3k_header(x, out);
    uint8_t* qh = out + 56;
    uint8_t* qs = out + 56 + 128;
    for (int k = 0; k < 4; ++k) {
        const uint8_t *hmask = x[k], *q = x[k] + 32;
        uint8_t L[256];
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; l += 8)  // 8 values at once, a byte each
                    put64(L + 128 * h + 32 * j + l,
                          ((le64(q + 32 * h + l) >> (2 * j)) & 3 * kBytes1) | ((le64(hmask + l) >> (4 * h + j)) & kBytes1) << 2);
        gather_2bit(L, k, qs);
        gather_3rd_bit(L, k, qh);
    }
}

// d, dmin and the 16 scale bytes of 4 Q2_K rows: the first 80 bytes of a Q2_K_R4 block.
void q2k_header(const uint8_t* const* x, uint8_t* out) {
    uint8_t* scales = out + 16;
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, x[k] + 80, 2);      // d
        std::memcpy(out + 8 + 2 * k, x[k] + 82, 2);  // dmin
        for (int j = 0; j < 16; ++j) scales[4 * j + k] = x[k][j];
    }
}

void r_q2_k(Blocks x, uint8_t* out) {
    q2k_header(x, out);
    uint8_t* qs = out + 80;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* q = x[k] + 16;
        uint8_t L[256];
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l) L[128 * h + 32 * j + l] = static_cast<uint8_t>((q[32 * h + l] >> (2 * j)) & 3);
        gather_2bit(L, k, qs);
    }
}

void r_iq2_xxs(Blocks x, uint8_t* out) {
    uint8_t* sas = out + 8;
    uint8_t* qs = out + 8 + 128;
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, x[k], 2);
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t* g = x[k] + 2 + 8 * ib;
            for (int i = 0; i < 4; ++i) qs[16 * ib + 4 * k + i] = g[i];
            put32(sas + 4 * (4 * ib + k), scrambled_sas(le32(g + 4)));
        }
    }
}

void r_iq2_xs(Blocks x, uint8_t* out) {
    uint8_t* qs = out + 8;
    uint8_t* scales = out + 8 + 256;
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, x[k], 2);
        for (int ib = 0; ib < 8; ++ib) {
            for (int i = 0; i < 4; ++i) {
                const uint32_t v = le16(x[k] + 2 + 2 * (4 * ib + i));
                put16(qs + 2 * (16 * ib + 4 * k + i), static_cast<uint16_t>((v & 511) | prefix_xor(v >> 9) << 9));
            }
            scales[4 * ib + k] = x[k][66 + ib];
        }
    }
}

void r_iq2_s(Blocks x, uint8_t* out) {
    uint8_t *qs = out + 8, *qh = out + 136, *signs = out + 168, *scales = out + 296;
    for (int k = 0; k < 4; ++k) {
        const uint8_t *q = x[k] + 2, *h = x[k] + 66, *sc = x[k] + 74;
        std::memcpy(out + 2 * k, x[k], 2);
        for (int ib = 0; ib < 8; ++ib) {
            for (int i = 0; i < 4; ++i) {
                qs[16 * ib + 4 * k + i] = q[4 * ib + i];
                signs[16 * ib + 4 * k + i] = q[32 + 4 * ib + i];
            }
            qh[4 * ib + k] = h[ib];
            scales[4 * ib + k] = sc[ib];
        }
    }
}

void r_iq3_xxs(Blocks x, uint8_t* out) {
    uint8_t* sas = out + 8;
    uint8_t* qs = out + 8 + 128;
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, x[k], 2);
        const uint8_t *q = x[k] + 2, *s = x[k] + 66;
        for (int ib = 0; ib < 8; ++ib) {
            for (int i = 0; i < 8; ++i) qs[32 * ib + 8 * k + i] = q[8 * ib + i];
            put32(sas + 4 * (4 * ib + k), scrambled_sas(le32(s + 4 * ib)));
        }
    }
}

void r_iq3_s(Blocks x, uint8_t* out) {
    uint8_t *qs = out + 8, *qh = out + 264, *signs = out + 296, *scales = out + 424;
    std::memset(scales, 0, 16);
    for (int k = 0; k < 4; ++k) {
        const uint8_t *q = x[k] + 2, *h = x[k] + 66, *sg = x[k] + 74, *sc = x[k] + 106;
        std::memcpy(out + 2 * k, x[k], 2);
        for (int ib = 0; ib < 8; ++ib) {
            for (int i = 0; i < 4; ++i)
                for (int hh = 0; hh < 2; ++hh) qs[32 * ib + 8 * i + 4 * hh + k] = q[8 * ib + 4 * hh + i];
            qh[4 * ib + k] = h[ib];
            uint64_t v = 0;  // byte i: bits i and 4 + i of each sign byte m, at 2m and 2m + 1
            for (int m = 0; m < 4; ++m) {
                const uint64_t bits = kBitsToBytes[sg[4 * ib + m]];
                v |= (bits & 0xFFFFFFFFu) << (2 * m) | (bits >> 32) << (2 * m + 1);
            }
            put32(signs + 16 * ib + 4 * k, static_cast<uint32_t>(v));
        }
        for (int j = 0; j < 4; ++j) {
            int s = 8 * j + k;
            scales[s % 16] |= static_cast<uint8_t>((sc[j] & 15) << (4 * (s / 16)));
            s = 8 * j + 4 + k;
            scales[s % 16] |= static_cast<uint8_t>((sc[j] >> 4) << (4 * (s / 16)));
        }
    }
}

// ---- ik's own K-type quants (IQ2_K…IQ5_K, IQ4_KS, IQ5_KS) and IQ2_BN. The reference names these
// layouts without spelling them out (§5.18); they follow ik's repack_iq*_k functions and were
// checked against its `llama-quantize --repack` output (tests/data/gguf/repack).

// Bits 2ib and 2ib + 1 of a row's 16-bit word (one pair per 32-element sub-block) as bit ib of
// out[k] and out[k + 4]: the "extra" flags of IQ2_K…IQ5_K, and IQ3_K's fifth scale bits.
inline void split_bit_pairs(int k, uint16_t pairs, uint8_t* out) {
    uint8_t f1 = 0, f2 = 0;  // branch-free: the bits are data, as good as random
    for (int ib = 0; ib < 8; ++ib) {
        f1 |= static_cast<uint8_t>(((pairs >> (2 * ib)) & 1) << ib);
        f2 |= static_cast<uint8_t>(((pairs >> (2 * ib + 1)) & 1) << ib);
    }
    out[k] = f1;
    out[k + 4] = f2;
}

// Row k's d and extra flags: an IQ2_K…IQ5_K R-block starts with d[4] and extra[8].
inline void put_d_extra(const uint8_t* b, int k, uint8_t* out) {
    std::memcpy(out + 2 * k, b, 2);
    split_bit_pairs(k, le16(b + 2), out + 8);
}

// The 4-bit scales of row k (IQ2_K…IQ5_K): the halves of sub-block ib, the low and high nibble
// of sl[ib], are scales s = 8ib + k and s + 4 of the group, the low nibble of scales_l byte
// s % 32 for ib < 4 and its high nibble for ib ≥ 4. Every byte is written whole.
inline void put_scales_l(const uint8_t* sl, int k, uint8_t* scales_l) {
    for (int ib = 0; ib < 4; ++ib) {
        scales_l[8 * ib + k] = static_cast<uint8_t>((sl[ib] & 15) | (sl[ib + 4] & 15) << 4);
        scales_l[8 * ib + 4 + k] = static_cast<uint8_t>((sl[ib] >> 4) | (sl[ib + 4] >> 4) << 4);
    }
}

// The fifth bits of IQ5_K / IQ5_KS values: bit t of byte 16ib + 4k + i is value i + 8t (t < 4)
// or i + 4 + 8(t - 4) of sub-block ib (Q5_K's order differs).
inline void gather_5th_bit_iq5(const uint8_t* L, int k, uint8_t* qh) {
    static constexpr int kAt[8] = {0, 8, 16, 24, 4, 12, 20, 28};
    gather_bit(L, k, kAt, 4, qh);
}

// A block's 4-bit values. IQ4_K / IQ4_KS: 16 bytes per 32 values, value j in the low nibble of
// byte j and value j + 16 in its high nibble.
inline void values_iq4(const uint8_t* qs, uint8_t* L) {
    for (int ib = 0; ib < 8; ++ib)
        for (int j = 0; j < 16; ++j) {
            L[32 * ib + j] = qs[16 * ib + j] & 15;
            L[32 * ib + 16 + j] = qs[16 * ib + j] >> 4;
        }
}

// IQ5_K / IQ5_KS: 32 bytes of nibbles per 64 values (values j and j + 16 low, j + 32 and j + 48
// high) and a fifth bit from qh, two bits per byte for each 64 values (ik's convert_iq5_k).
inline void values_iq5(const uint8_t* qs, const uint8_t* qh, uint8_t* L) {
    for (int c = 0; c < 4; ++c, qs += 32, L += 64) {
        const int shift = 2 * c;
        for (int j = 0; j < 16; ++j) {
            L[j] = static_cast<uint8_t>((qs[j] & 15) | ((qh[j] >> shift) & 1) << 4);
            L[j + 16] = static_cast<uint8_t>((qs[j + 16] & 15) | ((qh[j + 16] >> shift) & 1) << 4);
            L[j + 32] = static_cast<uint8_t>((qs[j] >> 4) | ((qh[j] >> shift) & 2) << 3);
            L[j + 48] = static_cast<uint8_t>((qs[j + 16] >> 4) | ((qh[j + 16] >> shift) & 2) << 3);
        }
    }
}

// A block's 2-bit values (IQ2_K/IQ3_K: 64 bytes, four 2-bit fields per byte for each 128
// values), and for IQ3_K a third bit from qh (bit ib of each byte for sub-block ib).
inline void values_2bit(const uint8_t* qs, const uint8_t* qh, uint8_t* L) {
    for (int ib = 0; ib < 8; ++ib, L += 32) {
        const uint8_t* q = qs + 32 * (ib / 4);
        const int shift = 2 * (ib % 4);
        for (int j = 0; j < 32; ++j) {
            L[j] = (q[j] >> shift) & 3;
            if (qh) L[j] |= static_cast<uint8_t>(((qh[j] >> ib) & 1) << 2);
        }
    }
}

// Row k's 4-bit (IQ4_K, IQ4_KS) or 5-bit values (IQ5_K, IQ5_KS: their qh 128 bytes after qs)
// into the R-block's qs and qh.
template <bool Q5>
inline void put_iq45_values(const uint8_t* src, int k, uint8_t* qs, uint8_t* qh) {
    uint8_t L[256];
    if (Q5) values_iq5(src, src + 128, L);
    else values_iq4(src, L);
    gather_nib4(L, k, qs);
    if (Q5) gather_5th_bit_iq5(L, k, qh);
}

// IQ4_K / IQ5_K: d, extra, 6-bit scales (4 low bits in scales_l, 2 high in scales_h), values.
template <bool Q5>
void r_iq45_k(Blocks x, uint8_t* out) {
    uint8_t *scales_h = out + 16, *scales_l = out + 32, *qs = out + 64;
    uint8_t* qh = Q5 ? out + 576 : nullptr;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = x[k];
        put_d_extra(b, k, out);
        put_scales_l(b + 8, k, scales_l);
        // The scales' top 2 bits: sub-block ib = 2t + m has them at 4m (first half) and 4m + 2 of
        // byte b[4 + t]; scale s goes to scales_h byte s % 16 at 2·(s / 16), i.e. t.
        for (int m = 0; m < 2; ++m) {
            int first = 0, second = 0;
            for (int t = 0; t < 4; ++t) {
                first |= ((b[4 + t] >> (4 * m)) & 3) << (2 * t);
                second |= ((b[4 + t] >> (4 * m + 2)) & 3) << (2 * t);
            }
            scales_h[8 * m + k] = static_cast<uint8_t>(first);
            scales_h[8 * m + 4 + k] = static_cast<uint8_t>(second);
        }
        put_iq45_values<Q5>(b + 16, k, qs, qh);
    }
}

// IQ3_K: d, extra, 5-bit scales (4 low bits in scales_l, the fifth in scales_h) of 4 rows: the
// first 56 bytes of an IQ3_K_R4 block.
void iq3k_header(const uint8_t* const* x, uint8_t* out) {
    uint8_t *scales_h = out + 16, *scales_l = out + 24;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = x[k];
        put_d_extra(b, k, out);
        put_scales_l(b + 6, k, scales_l);
        split_bit_pairs(k, le16(b + 4), scales_h);  // the fifth bits: bit ib of byte s % 8
    }
}

// IQ3_K: the header, then 3-bit values laid out as Q3_K's (2-bit fields, third bits).
void r_iq3_k(Blocks x, uint8_t* out) {
    iq3k_header(x, out);
    uint8_t *qs = out + 56, *qh = out + 312;
    for (int k = 0; k < 4; ++k) {
        uint8_t L[256];
        values_2bit(x[k] + 14, x[k] + 78, L);
        gather_2bit(L, k, qs);
        gather_3rd_bit(L, k, qh);
    }
}

// IQ2_K: d, extra and 4-bit scales of 4 rows: the first 48 bytes of an IQ2_K_R4 block.
void iq2k_header(const uint8_t* const* x, uint8_t* out) {
    for (int k = 0; k < 4; ++k) {
        put_d_extra(x[k], k, out);
        put_scales_l(x[k] + 4, k, out + 16);
    }
}

// IQ2_K: the header, then 2-bit values laid out as Q2_K's.
void r_iq2_k(Blocks x, uint8_t* out) {
    iq2k_header(x, out);
    uint8_t* qs = out + 48;
    for (int k = 0; k < 4; ++k) {
        uint8_t L[256];
        values_2bit(x[k] + 12, nullptr, L);
        gather_2bit(L, k, qs);
    }
}

// IQ4_KS / IQ5_KS (after the group's 4 row scales): one scale byte per sub-block, values.
template <bool Q5>
void r_iq45_ks(Blocks x, uint8_t* out) {
    uint8_t *qs = out + 32, *qh = Q5 ? out + 544 : nullptr;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = x[k];
        for (int ib = 0; ib < 8; ++ib) out[4 * ib + k] = b[ib];
        put_iq45_values<Q5>(b + 8, k, qs, qh);
    }
}

// IQ2_BN (after the group's 4 row scales): 64 ternary values in 16 bytes, four 2-bit fields per
// byte; field l of bytes i, i+4, i+8, i+12 of each row go to byte 16l + 4k + i.
void r_iq2_bn(Blocks x, uint8_t* out) {
    for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 4; ++l) put32(out + 16 * l + 4 * k, pack_fields(x[k], kAt4, 2 * l, 2));
}

// BF16/F16 → BF16_R16: pairs of elements, 16 rows interleaved pair by pair; F16 is widened
// exactly to f32 and truncated to its upper 16 bits (§5.17).
template <bool F16>
void r_bf16(Blocks x, uint8_t* out) {
    for (int k = 0; k < 16; ++k)
        for (int j = 0; j < 2; ++j) {
            uint16_t v = le16(x[k] + 2 * j);
            if (F16) {
                const uint32_t h = v, s = (h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 0x3FF;
                uint32_t f;
                if (e == 0) {
                    float val = static_cast<float>(m) * (1.0f / 16777216.0f);  // exact: m · 2^-24
                    std::memcpy(&f, &val, 4);
                    f |= s;
                } else if (e == 31) {
                    f = s | 0x7F800000u | (m << 13);
                } else {
                    f = s | ((e + 112) << 23) | (m << 13);
                }
                v = static_cast<uint16_t>(f >> 16);
            }
            put16(out + 4 * k + 2 * j, v);
        }
}

using namespace ggml::type;
const Entry kTable[] = {
    {Q4_0, 202, 8, 18, r_q_simple<8, 16>, {simd::Kind::Interleave, 2, 16}},  {Q8_0, 208, 8, 34, r_q_simple<8, 32>, {simd::Kind::Interleave, 2, 32}},
    {MXFP4, 353, 8, 17, r_mxfp4, {simd::Kind::Interleave, 1, 16}},           {IQ4_NL, 220, 4, 18, r_iq4_nl, {simd::Kind::IQ4NL, 0, 0}},
    {Q5_0, 206, 4, 22, r_q5_q6_0<false>, {simd::Kind::Q50, 0, 0}},   {133 /* Q6_0 */, 233, 4, 26, r_q5_q6_0<true>, {simd::Kind::Q60, 0, 0}},
    {IQ4_XS, 223, 8, 136, r_iq4_xs, {simd::Kind::IQ4XS, 0, 0}},        {Q2_K, 210, 4, 84, r_q2_k, {simd::Kind::Q2K, 0, 0}},
    {Q3_K, 211, 4, 110, r_q3_k, {simd::Kind::Q3K, 0, 0}},            {Q4_K, 212, 4, 144, r_q4_q5_k<false>, {simd::Kind::Q4K, 0, 0}},
    {Q5_K, 213, 4, 176, r_q4_q5_k<true>, {simd::Kind::Q5K, 0, 0}},   {Q6_K, 214, 4, 210, r_q6_k, {simd::Kind::Q6K, 0, 0}},
    {IQ2_XXS, 216, 4, 66, r_iq2_xxs, {simd::Kind::IQ2XXS, 0, 0}},       {IQ2_XS, 217, 4, 74, r_iq2_xs, {simd::Kind::IQ2XS, 0, 0}},
    {IQ2_S, 222, 4, 82, r_iq2_s, {simd::Kind::IQ2S, 0, 0}},           {IQ3_XXS, 218, 4, 98, r_iq3_xxs, {simd::Kind::IQ3XXS, 0, 0}},
    {IQ3_S, 221, 4, 110, r_iq3_s, {simd::Kind::IQ3S, 0, 0}},
    {137 /* IQ2_K */, 337, 4, 76, r_iq2_k, {simd::Kind::IQ2K, 0, 0}}, {138 /* IQ3_K */, 338, 4, 110, r_iq3_k, {simd::Kind::IQ3K, 0, 0}},
    {139 /* IQ4_K */, 339, 4, 144, r_iq45_k<false>, {simd::Kind::IQ4K, 0, 0}}, {140 /* IQ5_K */, 340, 4, 176, r_iq45_k<true>, {simd::Kind::IQ5K, 0, 0}},
    {144 /* IQ4_KS */, 344, 4, 136, r_iq45_ks<false>, {simd::Kind::IQ4KS, 0, 0}, 4}, {152 /* IQ5_KS */, 352, 4, 168, r_iq45_ks<true>, {simd::Kind::IQ5KS, 0, 0}, 4},
    {135 /* IQ2_BN */, 335, 4, 16, r_iq2_bn, {simd::Kind::IQ2BN, 0, 0}, 4},
};
const Entry kBf16 = {BF16, 230, 16, 4, r_bf16<false>, {simd::Kind::BF16, 0, 0}};
const Entry kF16 = {F16, 230, 16, 4, r_bf16<true>, {simd::Kind::F16, 0, 0}};

}  // namespace

const Entry* find(int32_t src_type, bool bf16) {
    for (const auto& e : kTable)
        if (e.src_type == src_type) return &e;
    if (bf16 && src_type == BF16) return &kBf16;
    if (bf16 && src_type == F16) return &kF16;
    return nullptr;
}

std::vector<const Entry*> entries() {
    std::vector<const Entry*> all;
    for (const auto& e : kTable) all.push_back(&e);
    all.push_back(&kBf16);
    all.push_back(&kF16);
    return all;
}

unsigned unimplemented_rows(int32_t src_type) {
    switch (src_type) {
        // Q8_K → Q8_K_R8 and Q8_KV → Q8_KV_R8: ik writes rows of the new type at the old stride
        // (reference/r4-repack.md §7.f); neither type is found in model files.
        case 15:
        case 151: return 8;
        default: return 0;
    }
}

const char* kernel_isa(const Entry& e) {
    return simd::isa(e.simd);
}

void repack_groups(const Entry& e, const uint8_t* in, uint8_t* out, size_t row_bytes, size_t groups, Kernel kernel) {
    const size_t nb = (row_bytes - e.row_meta) / e.block_bytes, group = row_bytes * e.rows;
    const auto fast = kernel == Kernel::Scalar ? nullptr
                      : simd::find(e.simd, kernel == Kernel::Best ? simd::Isa::Avx512 : kernel == Kernel::Avx2 ? simd::Isa::Avx2 : simd::Isa::Sse2);
    std::array<const uint8_t*, 16> rows{};
    for (size_t g = 0; g < groups; ++g) {
        const uint8_t* src = in + g * group;
        uint8_t* dst = out + g * group;
        if (e.row_meta) {  // the rows' own scales first, one after another, then the R-blocks
            for (unsigned k = 0; k < e.rows; ++k) std::memcpy(dst + k * e.row_meta, src + k * row_bytes, e.row_meta);
            src += e.row_meta;
            dst += e.rows * e.row_meta;
        }
        if (fast) {
            fast(src, dst, row_bytes, nb);
            continue;
        }
        for (size_t b = 0; b < nb; ++b) {
            // N interleaved streams outrun the hardware prefetcher (measured: Q2_K 1.8 → 4.0
            // GB/s, Q6_K's vector kernel 1.9 → 5.4): each row's block two ahead is fetched, once
            // per cache line for blocks smaller than one.
            const bool fetch = b + 2 < nb && (b * e.block_bytes) % 64 < e.block_bytes;
            for (unsigned k = 0; k < e.rows; ++k) {
                rows[k] = src + k * row_bytes + b * e.block_bytes;
                if (fetch)
                    for (unsigned line = 0; line < e.block_bytes; line += 64) __builtin_prefetch(rows[k] + 2 * e.block_bytes + line);
            }
            e.rblock(rows.data(), dst + b * e.rows * e.block_bytes);
        }
    }
}

uint32_t repacked_ftype(uint32_t f) {
    static const std::pair<uint32_t, uint32_t> kMap[] = {
        {2, 202}, {8, 208}, {135, 335}, {7, 207}, {25, 225}, {30, 230}, {10, 210}, {11, 211}, {12, 211},
        {13, 211}, {14, 214}, {15, 214}, {16, 216}, {17, 216}, {18, 218}, {19, 219}, {20, 220}, {29, 229},
        {23, 223}, {26, 226}, {138, 338}, {139, 339}, {140, 340}, {141, 341}, {145, 345}, {150, 350},
        {137, 337}, {32, 232}, {24, 224}, {31, 231}};
    for (auto [from, to] : kMap)
        if (f == from) return to;
    return f;
}

RepackPiece::RepackPiece(const Entry& entry, SourceFilePtr file, uint64_t offset, uint64_t row_bytes)
    : entry_(entry), file_(std::move(file)), offset_(offset), row_bytes_(row_bytes), group_bytes_(row_bytes * entry.rows) {}

Status RepackPiece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    // The row groups this range touches, in batches of about 256 KiB: each batch is read,
    // repacked while it is still in L2, and copied out (straight into dst when the batch is
    // exactly what was asked for); no call holds more than a batch of scratch memory.
    constexpr uint64_t kBatch = 256 << 10;
    const uint64_t batch_groups = std::max<uint64_t>(1, kBatch / group_bytes_);
    std::vector<uint8_t> in, out;
    while (len > 0) {
        const uint64_t g0 = offset / group_bytes_, start = g0 * group_bytes_;
        const uint64_t g1 = std::min((offset + len - 1) / group_bytes_ + 1, g0 + batch_groups);  // past the last
        const size_t groups = static_cast<size_t>(g1 - g0), bytes = groups * group_bytes_;
        const size_t take = static_cast<size_t>(std::min<uint64_t>(len, g1 * group_bytes_ - offset));
        in.resize(bytes);
        WFS_TRY(file_->read_exact(offset_ + start, bytes, in.data()));
        if (offset == start && take == bytes) {
            repack_groups(entry_, in.data(), dst, row_bytes_, groups);
        } else {
            out.resize(bytes);
            repack_groups(entry_, in.data(), out.data(), row_bytes_, groups);
            std::memcpy(dst, out.data() + (offset - start), take);
        }
        offset += take;
        dst += take;
        len -= take;
    }
    return {};
}

}  // namespace wfs::repack

// Repack kernels for the types whose 4-bit values re-pair into output nibbles: Q4_K, Q5_K, Q6_K
// (their low bits), IQ4_XS, ik's IQ4_K, IQ5_K, IQ4_KS, IQ5_KS, and the 32-element IQ4_NL, Q5_0 and
// Q6_0; the high bits of the 5- and 6-bit ones alongside.
#include "transforms/repack_simd_ops.hpp"

namespace wfs::repack::simd {

#if defined(__x86_64__)
namespace {

// q4k_header() by whole words. Row k's 12 scale bytes as words A (sc0-3, high bits of sc4-7),
// B (m0-3, high bits of m4-7), C (low nibbles sc4-7 | m4-7 << 4): the scales_l bytes of
// sub-blocks 0-3 are A & 15 | (B & 15) << 4, those of 4-7 are C itself, and scales_h's are
// the 2-bit highs of both halves side by side. Byte j of each goes to position 4j + k.
inline void q4k_header_words(const uint8_t* const* rows, uint8_t* out) {
    uint8_t* scales_h = out + 16;
    uint8_t* scales_l = out + 32;
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = rows[k];
        std::memcpy(out + 2 * k, b, 2);          // d
        std::memcpy(out + 8 + 2 * k, b + 2, 2);  // dmin
        uint32_t A, B, C;
        std::memcpy(&A, b + 4, 4);
        std::memcpy(&B, b + 8, 4);
        std::memcpy(&C, b + 12, 4);
        const uint32_t lo = (A & 0x0F0F0F0Fu) | (B & 0x0F0F0F0Fu) << 4;
        const uint32_t h_lo = ((A >> 4) & 0x03030303u) | ((B >> 4) & 0x03030303u) << 2;
        const uint32_t h_hi = ((A >> 6) & 0x03030303u) | ((B >> 6) & 0x03030303u) << 2;
        const uint32_t h = h_lo | h_hi << 4;
        for (int j = 0; j < 4; ++j) {
            scales_l[4 * j + k] = static_cast<uint8_t>(lo >> (8 * j));
            scales_l[16 + 4 * j + k] = static_cast<uint8_t>(C >> (8 * j));
            scales_h[4 * j + k] = static_cast<uint8_t>(h >> (8 * j));
        }
    }
}

// Q4_K → Q4_K_R4, 4 rows. Sub-block ib takes the low (even ib) or high (odd ib) nibbles N[0..32)
// of quant bytes 32·(ib/2)…; each output byte of row k is N[a+i] | N[b+i] << 4 with
// (a, b) = (0, 8), (16, 24), (4, 12), (20, 28) for the four 4-byte groups p: the low nibbles are
// the 32-bit interleave of N's two halves, the high ones its other interleave. A 4×4 transpose then
// puts group p of rows 0..3 together.
//
// Q5_K → Q5_K_R4 is the same with the quants 32 bytes later, after the 32 qh bytes whose bit ib
// is the fifth bit of sub-block ib's values: output qh byte i of row k takes those of values i,
// i+8, i+4, i+12, i+16, i+24, i+20, i+28 (bits 0..7), gathered by shifted ORs as in q6k_sse2.
template <bool Q5>
void q4k_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = Q5 ? 176 : 144, quants = Q5 ? 48 : 16;
    const __m128i low = _mm_set1_epi8(15), one = _mm_set1_epi8(1);
    auto fifth = [&](const uint8_t* p, int ib) {  // bit ib of 16 qh bytes, fields i | i+8 | i+4 | i+12
        return fold_words<8, 4>(_mm_and_si128(_mm_srl_epi16(load128(p), _mm_cvtsi32_si128(ib)), one), 1);
    };
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        q4k_header_words(rows, dst);
        uint8_t* qh = dst + 64;
        uint8_t* qs = Q5 ? dst + 64 + 128 : dst + 64;
        for (int ib = 0; ib < 8; ++ib) {
            const int c = ib / 2, shift = 4 * (ib % 2);
            __m128i v[4], h[4];
            for (int k = 0; k < 4; ++k) {
                const uint8_t* q = rows[k] + quants + 32 * c;
                const __m128i h0 = _mm_and_si128(_mm_srli_epi16(load128(q), shift), low);
                const __m128i h1 = _mm_and_si128(_mm_srli_epi16(load128(q + 16), shift), low);
                v[k] = _mm_or_si128(_mm_unpacklo_epi32(h0, h1), _mm_slli_epi16(_mm_unpackhi_epi32(h0, h1), 4));
                if (Q5) h[k] = _mm_or_si128(fifth(rows[k] + 16, ib), _mm_slli_epi16(fifth(rows[k] + 32, ib), 4));
            }
            transpose4(v[0], v[1], v[2], v[3]);
            for (int p = 0; p < 4; ++p) _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 64 * ib + 16 * p), v[p]);
            if (Q5) _mm_storeu_si128(reinterpret_cast<__m128i*>(qh + 16 * ib), word0s(h));
        }
    }
}

// Q6_K → Q6_K_R4, 4 rows. Sub-block ib = 4h + j has its low 4 bits in ql bytes 64h + 32(j%2)…
// (low nibbles for j < 2, high ones after) and its top 2 bits in qh bytes 32h… (bits 2j, 2j+1).
// The nibbles re-pair as in q4k_sse2. The output qh byte i of row k holds the 2-bit fields of
// values i, i+8, i+4, i+12 (then 16 more): with G the fields of 16 values as bytes, G | G>>8
// bytes <<2 holds i | i+8 in word 0 and i+4 | i+12 in word 1, and OR-ing word 1 in <<4 finishes
// word 0. Word 0 of the 4 rows side by side is one 16-byte store.
// d and the 16 scale bytes of each row, and the rows' streams fetched two blocks ahead.
inline void q6k_header(const uint8_t* const* rows, uint8_t* out) {
    constexpr size_t block = 210;
    uint8_t* scales = out + 8;
    for (int k = 0; k < 4; ++k) {
        for (size_t line = 0; line < block; line += 64) _mm_prefetch(reinterpret_cast<const char*>(rows[k] + 2 * block + line), _MM_HINT_T0);
        std::memcpy(out + 2 * k, rows[k] + 208, 2);
        for (int ib = 0; ib < 8; ++ib) {
            scales[8 * ib + k] = rows[k][192 + 2 * ib];
            scales[8 * ib + 4 + k] = rows[k][193 + 2 * ib];
        }
    }
}

void q6k_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 210;
    const __m128i low = _mm_set1_epi8(15), two = _mm_set1_epi8(3);
    auto fields = [&](const uint8_t* p, int shift) {  // the 2-bit fields at `shift` of 16 bytes
        return fold_words<8, 4>(_mm_and_si128(_mm_srli_epi16(load128(p), shift), two), 2);
    };
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        uint8_t *qh = dst + 72, *ql = dst + 328;
        q6k_header(rows, dst);
        for (int ib = 0; ib < 8; ++ib) {
            const int h = ib / 4, j = ib % 4, shift = 4 * (j / 2);
            __m128i v[4], x[4], y[4];
            for (int k = 0; k < 4; ++k) {
                const uint8_t* q = rows[k] + 64 * h + 32 * (j % 2);
                const __m128i n0 = _mm_and_si128(_mm_srli_epi16(load128(q), shift), low);
                const __m128i n1 = _mm_and_si128(_mm_srli_epi16(load128(q + 16), shift), low);
                v[k] = _mm_or_si128(_mm_unpacklo_epi32(n0, n1), _mm_slli_epi16(_mm_unpackhi_epi32(n0, n1), 4));
                x[k] = fields(rows[k] + 128 + 32 * h, 2 * j);
                y[k] = fields(rows[k] + 144 + 32 * h, 2 * j);
            }
            transpose4(v[0], v[1], v[2], v[3]);
            for (int p = 0; p < 4; ++p) _mm_storeu_si128(reinterpret_cast<__m128i*>(ql + 64 * ib + 16 * p), v[p]);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(qh + 32 * ib), word0s(x));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(qh + 32 * ib + 16), word0s(y));
        }
    }
}

// iq4xs_header() with whole-word bit moves instead of one sub-block at a time: output scales_l
// byte 8j+k holds nibbles j and j+4 of row k's 32-bit scales_l; scales_h byte 8m+k holds the 2-bit
// fields m, m+2, m+4, m+6 of row k's 16-bit scales_h. Checked against the scalar header by the tests.
inline void iq4xs_header_words(const uint8_t* const* rows, uint8_t* out) {
    uint8_t* scales_h = out + 16;
    uint8_t* scales_l = out + 32;
    for (int k = 0; k < 8; ++k) {
        std::memcpy(out + 2 * k, rows[k], 2);
        uint16_t h;
        uint32_t l;
        std::memcpy(&h, rows[k] + 2, 2);
        std::memcpy(&l, rows[k] + 4, 4);
        // Nibble j of the low and high halves into byte j (low and high nibble of it).
        auto spread = [](uint32_t x) {
            x = ((x & 0xFF00u) << 8) | (x & 0x00FFu);
            return ((x & 0x00F000F0u) << 4) | (x & 0x000F000Fu);
        };
        const uint32_t bytes = spread(l & 0xFFFFu) | spread(l >> 16) << 4;
        for (int j = 0; j < 4; ++j) scales_l[8 * j + k] = static_cast<uint8_t>(bytes >> (8 * j));
        // 2-bit fields 0, 2, 4, 6 (m = 0) or 1, 3, 5, 7 (m = 1) packed into one byte.
        auto pack = [](uint32_t x) {
            x &= 0x3333u;
            x = (x | x >> 2) & 0x0F0Fu;
            return static_cast<uint8_t>((x | x >> 4) & 0xFFu);
        };
        scales_h[k] = pack(h);
        scales_h[8 + k] = pack(static_cast<uint32_t>(h) >> 2);
    }
}

// IQ4_XS → IQ4_XS_R8, 8 rows. For sub-block ib (16 quant bytes q of each row) the output words of
// row k are lo(i) | lo(i+4) << 4, lo(i+8) | lo(i+12) << 4, then the same of the high nibbles,
// for i = 0..3: a nibble vector OR'd with itself moved down 4 bytes gives the first in bytes
// 0..3 and the second in bytes 8..11. Two 4×4 transposes per 4 rows put each word of rows 0..7 together.
void iq4xs_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 136;
    const __m128i low = _mm_set1_epi8(15);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 8 * block) {
        const uint8_t* rows[8];
        for (int k = 0; k < 8; ++k) rows[k] = src + k * row_bytes;
        prefetch_rows<8>(rows, block);
        iq4xs_header_words(rows, dst);
        uint8_t* qs = dst + 64;
        for (int ib = 0; ib < 8; ++ib)
            for (int quad = 0; quad < 2; ++quad) {
                __m128i lo[4], hi[4];
                for (int k = 0; k < 4; ++k) {
                    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[4 * quad + k] + 8 + 16 * ib));
                    const __m128i l = _mm_and_si128(q, low), h = _mm_and_si128(_mm_srli_epi16(q, 4), low);
                    lo[k] = _mm_or_si128(l, _mm_slli_epi16(_mm_srli_si128(l, 4), 4));
                    hi[k] = _mm_or_si128(h, _mm_slli_epi16(_mm_srli_si128(h, 4), 4));
                }
                transpose4(lo[0], lo[1], lo[2], lo[3]);
                transpose4(hi[0], hi[1], hi[2], hi[3]);
                uint8_t* at = qs + 128 * ib + 16 * quad;
                _mm_storeu_si128(reinterpret_cast<__m128i*>(at), lo[0]);
                _mm_storeu_si128(reinterpret_cast<__m128i*>(at + 32), lo[2]);
                _mm_storeu_si128(reinterpret_cast<__m128i*>(at + 64), hi[0]);
                _mm_storeu_si128(reinterpret_cast<__m128i*>(at + 96), hi[2]);
            }
    }
}

// One row's output words of the two sub-blocks whose values are the low and the high nibbles
// of the 32 bytes at p, lane 0 the low-nibble sub-block: a 64-bit permute and a 32-bit shuffle
// put the bytes' interleave-low words in lane 0 and interleave-high words in lane 1, so lane 0 |
// lane 1 << 4 of the low (high) nibbles is that sub-block's words.
__attribute__((target("avx2"))) inline __m256i nibble_pairs(const uint8_t* p) {
    const __m256i low = _mm256_set1_epi8(15);
    const __m256i y = _mm256_shuffle_epi32(_mm256_permute4x64_epi64(load256(p), 0xD8), 0xD8);
    const __m256i even = _mm256_and_si256(y, low), odd = _mm256_and_si256(_mm256_srli_epi16(y, 4), low);
    // [even.lane0 | odd.lane0] | [even.lane1 | odd.lane1] << 4
    return _mm256_or_si256(_mm256_permute2x128_si256(even, odd, 0x20), _mm256_slli_epi16(_mm256_permute2x128_si256(even, odd, 0x31), 4));
}

// Q4_K with AVX2: the 32 quant bytes a sub-block pair (2c, 2c+1) shares are loaded once per row
// (nibble_pairs); the 4×4 transposes then run in both lanes at once. Q5_K likewise, its fifth
// bits (bit ib of the 32 qh bytes for sub-block ib) 8×8 bit transposes (bit_planes4), output
// byte i of a row holding values i, i+8, i+4, i+12, then the same 16 on.
template <bool Q5>
__attribute__((target("avx2"))) void q4k_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = Q5 ? 176 : 144, quants = Q5 ? 48 : 16;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        q4k_header_words(rows, dst);
        uint8_t* qh = dst + 64;
        uint8_t* qs = Q5 ? dst + 64 + 128 : dst + 64;
        for (int c = 0; c < 4; ++c) {
            __m256i v[4];
            for (int k = 0; k < 4; ++k) v[k] = nibble_pairs(rows[k] + quants + 32 * c);
            transpose4(v[0], v[1], v[2], v[3]);
            for (int p = 0; p < 4; ++p) store_lanes(qs + 64 * (2 * c) + 16 * p, qs + 64 * (2 * c + 1) + 16 * p, v[p]);
        }
        if (Q5) bit_planes4<0x75643120u>(rows, 16, qh);
    }
}

// Q6_K with AVX2: sub-blocks 4h + j and 4h + j + 2 share their ql bytes (low and high nibbles),
// so one 32-byte load per row serves both, re-paired as in q4k_avx2. A half's 32 qh bytes hold
// the high 2 bits of its four sub-blocks j as fields j, and output byte i packs those of values
// i, i+8, i+4, i+12 (16 on in the second 16 bytes): a 4×4 transpose of fields in each word, as
// Q2_K's values, with the bytes gathered in that order (fields2_rows<true>).
__attribute__((target("avx2"))) void q6k_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 210;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        uint8_t *qh = dst + 72, *ql = dst + 328;
        q6k_header(rows, dst);
        for (int h = 0; h < 2; ++h) {
            for (int j = 0; j < 2; ++j) {
                __m256i v[4];
                for (int k = 0; k < 4; ++k) v[k] = nibble_pairs(rows[k] + 64 * h + 32 * j);
                transpose4(v[0], v[1], v[2], v[3]);
                for (int p = 0; p < 4; ++p) store_lanes(ql + 64 * (4 * h + j) + 16 * p, ql + 64 * (4 * h + j + 2) + 16 * p, v[p]);
            }
            __m256i w[4];
            fields2_rows<true>(rows, 128 + 32 * h, w);
            for (int j = 0; j < 4; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(qh + 32 * (4 * h + j)), w[j]);
        }
    }
}

// 4×4 transpose of the 2-bit fields of a 32-bit word: field f of byte t (bit 8t + 2f) to field
// t of byte f, by two delta swaps.
inline uint32_t transpose_fields2(uint32_t x) {
    uint32_t t = ((x >> 12) ^ x) & 0x0000F0F0u;
    x ^= t ^ (t << 12);
    t = ((x >> 6) ^ x) & 0x00CC00CCu;
    return x ^ t ^ (t << 6);
}

// IQ4_K / IQ5_K header: d, extra flags, the scales' top 2 bits (4 bytes: the 2-bit field f of
// byte t goes to field t of output byte 4f + k) and their low 4 bits as for IQ2_K.
inline void iq45k_header_sse2(const uint8_t* const* rows, uint8_t* out) {
    __m128i sh[4];
    for (int k = 0; k < 4; ++k) sh[k] = _mm_cvtsi32_si128(static_cast<int>(transpose_fields2(load32(rows[k] + 4))));
    interleave4(sh, out + 16, 4);
    iqk_header_sse2<8, 32, false>(rows, out);
}

// The 32-element types of 4 rows (reference/r4-repack.md §5.16): IQ4_NL, Q5_0 and Q6_0 pair their
// nibbles alike (value j low, j + 16 high in byte j; output words p of a row: lo(0..3) |
// lo(8..11) << 4, hi(0..3) | hi(8..11) << 4, then bytes 4..7 with 12..15, as IQ4_K's), a 4×4
// transpose per block. Q5_0's fifth bits: output byte i holds values i, 16+i, 4+i, 20+i, 8+i,
// 24+i, 12+i, 28+i, i.e. bit (t0 t2 t1 i1 i0) of the 32-bit qh to bit (i1 i0 t2 t1 t0), four
// delta swaps. Q6_0's 2-bit highs: field (s0 i1 i0 s1 m) of the 64-bit qh (value 16m + 4s + i) to
// field (m i1 i0 s1 s0), one delta swap; the halves m go 16 bytes apart.
template <size_t kQh>  // 0: IQ4_NL, 4: Q5_0, 8: Q6_0 (bytes of high bits after d)
void small4_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 18 + kQh, out_qs = 8 + 4 * kQh;
    const __m128i low = _mm_set1_epi8(15);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        __m128i v[4];
        for (int k = 0; k < 4; ++k) {
            if (b % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(rows[k] + 256), _MM_HINT_T0);  // 44 bytes a step: every line
            std::memcpy(dst + 2 * k, rows[k], 2);
            const __m128i q = load128(rows[k] + 2 + kQh);
            __m128i lo = _mm_and_si128(q, low), hi = _mm_and_si128(_mm_srli_epi16(q, 4), low);
            lo = _mm_or_si128(lo, _mm_slli_epi16(_mm_srli_si128(lo, 8), 4));
            hi = _mm_or_si128(hi, _mm_slli_epi16(_mm_srli_si128(hi, 8), 4));
            v[k] = _mm_unpacklo_epi32(lo, hi);
        }
        transpose4(v[0], v[1], v[2], v[3]);
        for (int p = 0; p < 4; ++p) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + out_qs + 16 * p), v[p]);
        if constexpr (kQh == 4) {  // the 4 rows' qh words in one register, row k's output at 4k
            __m128i h = _mm_setr_epi32(static_cast<int>(load32(rows[0] + 2)), static_cast<int>(load32(rows[1] + 2)),
                                       static_cast<int>(load32(rows[2] + 2)), static_cast<int>(load32(rows[3] + 2)));
            h = delta_swap32<14, 0x0000CCCCu>(h);  // index bits 4 and 1
            h = delta_swap32<7, 0x00AA00AAu>(h);   // 3 and 0
            h = delta_swap32<3, 0x0A0A0A0Au>(h);   // 2 and 0
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8), delta_swap32<1, 0x22222222u>(h));  // 1 and 0
        } else if constexpr (kQh == 8) {  // rows 0, 1 and 2, 3 in two registers; halves m 16 bytes apart
            const __m128i a = delta_swap64<30, 0xCCCCCCCCull>(_mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[0] + 2)),
                                                                                  _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[1] + 2))));
            const __m128i c = delta_swap64<30, 0xCCCCCCCCull>(_mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[2] + 2)),
                                                                                  _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[3] + 2))));
            const __m128 af = _mm_castsi128_ps(a), cf = _mm_castsi128_ps(c);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8), _mm_castps_si128(_mm_shuffle_ps(af, cf, _MM_SHUFFLE(2, 0, 2, 0))));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 24), _mm_castps_si128(_mm_shuffle_ps(af, cf, _MM_SHUFFLE(3, 1, 3, 1))));
        }
    }
}

// A row's output words from 16 bytes per lane that keep value j in the low and j + 16 in the high
// nibble (IQ4_NL, Q5_0, Q6_0, IQ4_K): lo(0..3) | lo(8..11) << 4, hi(0..3) | hi(8..11) << 4, then
// the same of bytes 4..7 and 12..15.
__attribute__((target("avx2"))) inline __m256i iq4_words(__m256i q) {
    const __m256i low = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_srli_si256(lo, 8), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_srli_si256(hi, 8), 4));
    return _mm256_unpacklo_epi32(lo, hi);
}

// small4_sse2() with AVX2: blocks b and b + 1 of each row in the two lanes of one register, so
// every move above does two blocks; an odd last block through the SSE2 kernel.
template <size_t kQh>
__attribute__((target("avx2"))) void small4_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 18 + kQh, out_qs = 8 + 4 * kQh, out_block = 4 * block;
    size_t b = 0;
    for (; b + 2 <= nb; b += 2, src += 2 * block, dst += 2 * out_block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, 2 * block);
        __m256i v[4];
        for (int k = 0; k < 4; ++k) {
            std::memcpy(dst + 2 * k, rows[k], 2);
            std::memcpy(dst + out_block + 2 * k, rows[k] + block, 2);
            v[k] = iq4_words(_mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(rows[k] + block + 2 + kQh),
                                                 reinterpret_cast<const __m128i*>(rows[k] + 2 + kQh)));
        }
        transpose4(v[0], v[1], v[2], v[3]);
        for (int p = 0; p < 4; ++p) store_lanes(dst + out_qs + 16 * p, dst + out_block + out_qs + 16 * p, v[p]);
        if constexpr (kQh == 4) {  // the 4 rows' qh words of block b, then of b + 1
            __m256i h = _mm256_setr_epi32(static_cast<int>(load32(rows[0] + 2)), static_cast<int>(load32(rows[1] + 2)),
                                          static_cast<int>(load32(rows[2] + 2)), static_cast<int>(load32(rows[3] + 2)),
                                          static_cast<int>(load32(rows[0] + block + 2)), static_cast<int>(load32(rows[1] + block + 2)),
                                          static_cast<int>(load32(rows[2] + block + 2)), static_cast<int>(load32(rows[3] + block + 2)));
            h = delta_swap(h, 14, 0x0000CCCCu);
            h = delta_swap(h, 7, 0x00AA00AAu);
            h = delta_swap(h, 3, 0x0A0A0A0Au);
            store_lanes(dst + 8, dst + out_block + 8, delta_swap(h, 1, 0x22222222u));
        } else if constexpr (kQh == 8) {  // rows 0, 1 and rows 2, 3 of both blocks; halves m 16 bytes apart
            __m256 qh2[2];
            for (int k = 0; k < 4; k += 2)
                qh2[k / 2] = _mm256_castsi256_ps(delta_swap64(
                    _mm256_setr_epi64x(static_cast<long long>(load64(rows[k] + 2)), static_cast<long long>(load64(rows[k + 1] + 2)),
                                       static_cast<long long>(load64(rows[k] + block + 2)), static_cast<long long>(load64(rows[k + 1] + block + 2))),
                    30, 0xCCCCCCCCull));
            store_lanes(dst + 8, dst + out_block + 8, _mm256_castps_si256(_mm256_shuffle_ps(qh2[0], qh2[1], _MM_SHUFFLE(2, 0, 2, 0))));
            store_lanes(dst + 24, dst + out_block + 24, _mm256_castps_si256(_mm256_shuffle_ps(qh2[0], qh2[1], _MM_SHUFFLE(3, 1, 3, 1))));
        }
    }
    if (b < nb) small4_sse2<kQh>(src, dst, row_bytes, 1);
}

// IQ4_K, IQ5_K, IQ4_KS, IQ5_KS with AVX2. Their 4-bit values pair up into output nibbles as
// Q4_K's do (gather_nib4), from two source layouts: IQ5's are Q5_K's (low nibbles of 32 bytes
// for sub-block 2c, high ones for 2c + 1: nibble_pairs), IQ4's keep value j in the low and j + 16
// in the high nibble of 16 bytes per sub-block, so output words p = 0..3 of a row are
// lo(0..3) | lo(8..11) << 4, hi(0..3) | hi(8..11) << 4, then the same of bytes 4..7 and 12..15:
// each half OR'd with itself moved down 8 bytes, then the words interleaved (iq4_words). IQ5's
// fifth bits are Q5_K's bit planes in another order (values i, i+8, i+16, i+24, then i+4 on).
template <bool Q5, bool KS>
__attribute__((target("avx2"))) void iqk45_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = (KS ? 8 : 16) + 128 + (Q5 ? 32 : 0), quants = KS ? 8 : 16, header = KS ? 32 : 64;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        if (KS) {  // one scale byte per sub-block, interleaved
            __m128i sc[4];
            for (int k = 0; k < 4; ++k) sc[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[k]));
            interleave4(sc, dst, 8);
        } else {
            iq45k_header_sse2(rows, dst);
        }
        uint8_t* qs = dst + header;
        for (int c = 0; c < 4; ++c) {  // sub-blocks 2c and 2c + 1, in lanes 0 and 1
            __m256i v[4];
            for (int k = 0; k < 4; ++k)
                v[k] = Q5 ? nibble_pairs(rows[k] + quants + 32 * c) : iq4_words(load256(rows[k] + quants + 32 * c));
            transpose4(v[0], v[1], v[2], v[3]);
            for (int p = 0; p < 4; ++p) store_lanes(qs + 64 * (2 * c) + 16 * p, qs + 64 * (2 * c + 1) + 16 * p, v[p]);
        }
        if (Q5) bit_planes4<0x75316420u>(rows, quants + 128, qs + 512);
    }
}

// The same with AVX2: sub-blocks ib and ib+1 are adjacent 16-byte runs, so one 32-byte load per
// row carries both, one in each 128-bit lane, and every step of iq4xs_sse2 works lane by lane.
// iq4xs_header_words() of the 8 rows at once: each row's first 8 bytes (d, scales_h, scales_l)
// as a 64-bit lane, rows 0..3 in `a`, 4..7 in `b`; d and scales_h from their low 32 bits (a
// 16-bit pack of d; the 2-bit fields of h and h >> 2 folded as pack() does, 8 rows side by
// side), scales_l from their high 32 bits (nibbles j and j + 4 of each row paired into byte j,
// then the 8 rows × 4 bytes transposed to byte j of rows 0..7).
__attribute__((target("avx2"))) inline void iq4xs_header_avx2(const uint8_t* const* rows, uint8_t* out) {
    const __m256i a = _mm256_setr_epi64x(static_cast<long long>(load64(rows[0])), static_cast<long long>(load64(rows[1])),
                                         static_cast<long long>(load64(rows[2])), static_cast<long long>(load64(rows[3])));
    const __m256i b = _mm256_setr_epi64x(static_cast<long long>(load64(rows[4])), static_cast<long long>(load64(rows[5])),
                                         static_cast<long long>(load64(rows[6])), static_cast<long long>(load64(rows[7])));
    const __m256i rows_order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);  // shuffle_ps left rows 0 1 4 5 | 2 3 6 7
    const __m256i dh = _mm256_permutevar8x32_epi32(
        _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0))), rows_order);
    const __m256i l = _mm256_permutevar8x32_epi32(
        _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(3, 1, 3, 1))), rows_order);
    const __m256i lanes_interleaved = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    // d: the low 16 bits of each row's word, packed
    const __m256i d = _mm256_packus_epi32(_mm256_and_si256(dh, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(_mm256_permute4x64_epi64(d, 0x08)));
    // scales_h: fields 0, 2, 4, 6 of h into byte 0 of each word, fields 1, 3, 5, 7 into byte 2
    const __m256i h = _mm256_srli_epi32(dh, 16), m = _mm256_set1_epi32(0x3333);
    __m256i x = _mm256_or_si256(_mm256_and_si256(h, m), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 2), m), 16));
    x = _mm256_and_si256(_mm256_or_si256(x, _mm256_srli_epi32(x, 2)), _mm256_set1_epi32(0x0F0F0F0F));
    x = _mm256_or_si256(x, _mm256_srli_epi32(x, 4));
    x = _mm256_shuffle_epi8(x, _mm256_setr_epi8(0, 4, 8, 12, 2, 6, 10, 14, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                                0, 4, 8, 12, 2, 6, 10, 14, -1, -1, -1, -1, -1, -1, -1, -1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(x, lanes_interleaved)));
    // scales_l: byte j of a row = nibble j | nibble j + 4 << 4 of its word
    const __m256i low = _mm256_set1_epi32(0x0F0F0F0F), mask16 = _mm256_set1_epi32(0xFFFF);
    const __m256i lo = _mm256_and_si256(l, low), hi = _mm256_and_si256(_mm256_srli_epi32(l, 4), low);
    const __m256i p = _mm256_and_si256(_mm256_or_si256(lo, _mm256_slli_epi32(_mm256_srli_epi32(lo, 16), 4)), mask16);
    const __m256i q = _mm256_and_si256(_mm256_or_si256(hi, _mm256_slli_epi32(_mm256_srli_epi32(hi, 16), 4)), mask16);
    // packus: per lane p's 4 words then q's; byte k of row r's spread word = p0 q0 p1 q1, then byte j of rows 0..3
    __m256i y = _mm256_packus_epi32(p, q);
    y = _mm256_shuffle_epi8(y, _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                                0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32), _mm256_permutevar8x32_epi32(y, lanes_interleaved));
}

__attribute__((target("avx2"))) void iq4xs_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 136;
    const __m256i low = _mm256_set1_epi8(15);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 8 * block) {
        const uint8_t* rows[8];
        for (int k = 0; k < 8; ++k) rows[k] = src + k * row_bytes;
        prefetch_rows<8>(rows, block);  // took this from 5 to 6.5-7.5 GB/s
        iq4xs_header_avx2(rows, dst);
        uint8_t* qs = dst + 64;
        for (int ib = 0; ib < 8; ib += 2)
            for (int quad = 0; quad < 2; ++quad) {
                __m256i lo[4], hi[4];
                for (int k = 0; k < 4; ++k) {
                    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[4 * quad + k] + 8 + 16 * ib));
                    const __m256i l = _mm256_and_si256(q, low), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                    lo[k] = _mm256_or_si256(l, _mm256_slli_epi16(_mm256_srli_si256(l, 4), 4));
                    hi[k] = _mm256_or_si256(h, _mm256_slli_epi16(_mm256_srli_si256(h, 4), 4));
                }
                transpose4(lo[0], lo[1], lo[2], lo[3]);
                transpose4(hi[0], hi[1], hi[2], hi[3]);
                const __m256i out[4] = {lo[0], lo[2], hi[0], hi[2]};
                for (int w = 0; w < 4; ++w) {
                    uint8_t* at = qs + 128 * ib + 16 * quad + 32 * w;
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(at), _mm256_castsi256_si128(out[w]));
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(at + 128), _mm256_extracti128_si256(out[w], 1));
                }
            }
    }
}

}  // namespace

GroupKernel find_nibbles(const Layout& layout, Isa level) {
    const bool avx2 = level >= Isa::Avx2;
    switch (layout.kind) {
        case Kind::Q4K: return avx2 ? q4k_avx2<false> : q4k_sse2<false>;
        case Kind::Q5K: return avx2 ? q4k_avx2<true> : q4k_sse2<true>;
        case Kind::Q6K: return avx2 ? q6k_avx2 : q6k_sse2;
        case Kind::IQ4XS: return avx2 ? iq4xs_avx2 : iq4xs_sse2;
        case Kind::IQ4K: return avx2 ? iqk45_avx2<false, false> : nullptr;
        case Kind::IQ5K: return avx2 ? iqk45_avx2<true, false> : nullptr;
        case Kind::IQ4KS: return avx2 ? iqk45_avx2<false, true> : nullptr;
        case Kind::IQ5KS: return avx2 ? iqk45_avx2<true, true> : nullptr;
        case Kind::IQ4NL: return avx2 ? small4_avx2<0> : small4_sse2<0>;
        case Kind::Q50: return avx2 ? small4_avx2<4> : small4_sse2<4>;
        case Kind::Q60: return avx2 ? small4_avx2<8> : small4_sse2<8>;
        default: break;
    }
    return nullptr;
}

#endif  // __x86_64__

}  // namespace wfs::repack::simd

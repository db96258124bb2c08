// Repack kernels for the types of 2-bit fields, with a third bit for the 3-bit ones: Q2_K, Q3_K,
// ik's IQ2_K and IQ3_K (laid out as Q2_K/Q3_K), and IQ2_BN.
#include "transforms/repack_simd_ops.hpp"

namespace wfs::repack::simd {

#if defined(__x86_64__)
namespace {

// Q3_K → Q3_K_R4 and IQ3_K → IQ3_K_R4, 4 rows of 110-byte blocks whose 3-bit values are laid
// out alike (only the headers, q3k_header_sse2() / iqk_header_sse2() below, and the offsets
// differ). Sub-block ib = 4h + j takes the 2-bit fields at 2j of the 64 qs bytes 32h… and bit ib
// of the 32 qh bytes. Output qs byte i of row k packs the fields of values i, i+4, i+8, i+12
// (then 16 more), and qh byte i the third bits of values i, i+4, …, i+28: both are shifted ORs
// of 4-byte words, as in q6k_sse2 (repack_simd_nibbles.cpp).
template <void (*Header)(const uint8_t* const*, uint8_t*), size_t kQs, size_t kQh, size_t kOutQs, size_t kOutQh>
void bits3_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 110;
    const __m128i two = _mm_set1_epi8(3), one = _mm_set1_epi8(1);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        Header(rows, dst);
        uint8_t *qh = dst + kOutQh, *qs = dst + kOutQs;
        for (int ib = 0; ib < 8; ++ib) {
            const int h = ib / 4, j = ib % 4;
            const __m128i lo_shift = _mm_cvtsi32_si128(2 * j), hi_shift = _mm_cvtsi32_si128(ib);
            __m128i a[4], c[4], m[4];
            for (int k = 0; k < 4; ++k) {
                const uint8_t* q = rows[k] + kQs + 32 * h;
                a[k] = fold_words<4, 8>(_mm_and_si128(_mm_srl_epi16(load128(q), lo_shift), two), 2);
                c[k] = fold_words<4, 8>(_mm_and_si128(_mm_srl_epi16(load128(q + 16), lo_shift), two), 2);
                const __m128i h0 = fold_words<4, 8>(_mm_and_si128(_mm_srl_epi16(load128(rows[k] + kQh), hi_shift), one), 1);
                const __m128i h1 = fold_words<4, 8>(_mm_and_si128(_mm_srl_epi16(load128(rows[k] + kQh + 16), hi_shift), one), 1);
                m[k] = _mm_or_si128(h0, _mm_slli_epi16(h1, 4));
            }
            _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * ib), word0s(a));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * ib + 16), word0s(c));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(qh + 16 * ib), word0s(m));
        }
    }
}

// The 2-bit and 3-bit values of Q2_K, Q3_K, IQ2_K and IQ3_K with AVX2, a half (128 values) of a
// block per row at a time. Its 32 qs bytes hold four sub-blocks j (the fields at 2j of every
// byte), and output byte i of sub-block j packs the fields of values i, i+4, i+8, i+12 (lane 0;
// lane 1 the 16 values after): with the bytes i, i+4, i+8, i+12 gathered into word i, that is a
// 4×4 transpose of 2-bit fields in each word (two delta swaps), then word j of the 4 rows side by
// side. The third bits (bit ib of 32 qh bytes for sub-block ib; output byte i of row k: values
// i, i+4, …, i+28) are bit_planes4() in natural order.
__attribute__((target("avx2"))) inline void bits2_avx2(const uint8_t* const* rows, size_t at, uint8_t* qs) {
    for (int h = 0; h < 2; ++h) {
        __m256i v[4];
        fields2_rows(rows, at + 32 * h, v);
        for (int j = 0; j < 4; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * (4 * h + j)), v[j]);
    }
}

// Q2_K's header: d, dmin, and scale j of row k at byte 4j + k.
inline void q2k_header_sse2(const uint8_t* const* rows, uint8_t* out) {
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, rows[k] + 80, 2);
        std::memcpy(out + 8 + 2 * k, rows[k] + 82, 2);
    }
    const __m128i sc[4] = {load128(rows[0]), load128(rows[1]), load128(rows[2]), load128(rows[3])};
    interleave4(sc, out + 16, 16);
}

// q3k_header() is a byte interleave in disguise: unpacking the 12 scale bytes into 6-bit scales
// and re-packing them as Q3_K_R4 wants gives back scale bytes 0..7 as scales_l (byte m of row k
// at 4m + k) and bytes 8..11 as scales_h. Checked against the scalar header by the tests.
inline void q3k_header_sse2(const uint8_t* const* rows, uint8_t* out) {
    __m128i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, rows[k] + 108, 2);
        lo[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[k] + 96));  // not past the block
        hi[k] = _mm_cvtsi32_si128(static_cast<int>(load32(rows[k] + 104)));
    }
    interleave4(hi, out + 8, 4);
    interleave4(lo, out + 24, 8);
}

// iqk_header_sse2() of IQ2_K (kFifth false) and IQ3_K (true), the 4 rows at once. Loaded 4
// bytes before the scales, each row is 4 words: the extra flags (IQ3_K: and the fifth scale bits
// after them; IQ2_K: after d), scales 0..3, scales 4..7; transposed, each word is the same field
// of the 4 rows. The bit pairs are split in every 16-bit word at once: each byte's even bits to
// its low nibble and odd bits to its high one by two table lookups, then the words' middle
// nibbles swapped (even bits in the low byte, odd in the high); one byte shuffle puts each
// field's bytes in row order. The scale nibbles are paired as scale_nibble_pairs() does, and a
// byte transpose and a word interleave lay them out as the R-block wants.
template <bool kFifth>
__attribute__((target("avx2"))) inline void iq23k_header_avx2(const uint8_t* const* rows, uint8_t* out) {
    constexpr size_t kScales = kFifth ? 6 : 4;
    __m128i r[4];
    for (int k = 0; k < 4; ++k) {
        std::memcpy(out + 2 * k, rows[k], 2);
        r[k] = load128(rows[k] + kScales - 4);
    }
    transpose4(r[0], r[1], r[2], r[3]);  // r[0]: flag words, r[1]: scales 0..3, r[2]: scales 4..7
    const __m128i low = _mm_set1_epi8(15);
    const __m128i even_odd_lo = _mm_setr_epi8(0x00, 0x01, 0x10, 0x11, 0x02, 0x03, 0x12, 0x13, 0x20, 0x21, 0x30, 0x31, 0x22, 0x23, 0x32, 0x33);
    const __m128i even_odd_hi = _mm_slli_epi16(even_odd_lo, 2);  // every entry's bits < 0x40: no carry into the next byte
    const __m128i f = r[0];
    __m128i split = _mm_or_si128(_mm_shuffle_epi8(even_odd_lo, _mm_and_si128(f, low)),
                                 _mm_shuffle_epi8(even_odd_hi, _mm_and_si128(_mm_srli_epi16(f, 4), low)));
    split = delta_swap32<4, 0x00F000F0u>(split);
    // Row k's word: extra even, extra odd, then (IQ3_K) fifth bits even, odd; IQ2_K's extra is the high half.
    const __m128i by_field = kFifth ? _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
                                    : _mm_setr_epi8(2, 6, 10, 14, 3, 7, 11, 15, -1, -1, -1, -1, -1, -1, -1, -1);
    split = _mm_shuffle_epi8(split, by_field);
    if constexpr (kFifth) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8), split);
    else _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 8), split);

    const __m128i a = r[1], c = r[2];
    const __m128i p = _mm_or_si128(_mm_and_si128(a, low), _mm_slli_epi16(_mm_and_si128(c, low), 4));
    const __m128i q = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), low), _mm_andnot_si128(low, c));
    const __m128i by_scale = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m128i ps = _mm_shuffle_epi8(p, by_scale), qs = _mm_shuffle_epi8(q, by_scale);
    constexpr size_t kOut = kFifth ? 24 : 16;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kOut), _mm_unpacklo_epi32(ps, qs));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kOut + 16), _mm_unpackhi_epi32(ps, qs));
}

// kQs/kQh: where a source block keeps its 2-bit fields and third bits (kQh < 0: none);
// kOutQs/kOutQh: where the R-block does.
template <void (*Header)(const uint8_t* const*, uint8_t*), size_t kBlock, size_t kQs, int kQh, size_t kOutQs, size_t kOutQh>
__attribute__((target("avx2"))) void bits23_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    for (size_t b = 0; b < nb; ++b, src += kBlock, dst += 4 * kBlock) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, kBlock);
        Header(rows, dst);
        bits2_avx2(rows, kQs, dst + kOutQs);
        if constexpr (kQh >= 0) bit_planes4<0x76543210u>(rows, kQh, dst + kOutQh);
    }
}

// IQ2_BN (16-byte blocks after the row scales): four 2-bit fields l per byte; output byte i of
// row k for field l packs bytes i, i+4, i+8, i+12 — bits2_avx2's transform, two blocks per step
// (one per lane), the last odd block through a zero-padded copy.
__attribute__((target("avx2"))) inline void iq2bn_step(const uint8_t* const* rows, uint8_t* out0, uint8_t* out1) {
    __m256i v[4];
    fields2_rows(rows, 0, v);
    for (int l = 0; l < 4; ++l) store_lanes(out0 + 16 * l, out1 + 16 * l, v[l]);
}
__attribute__((target("avx2"))) void iq2bn_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    size_t b = 0;
    for (; b + 2 <= nb; b += 2, src += 32, dst += 128) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        for (int k = 0; k < 4; ++k) _mm_prefetch(reinterpret_cast<const char*>(rows[k] + 128), _MM_HINT_T0);
        iq2bn_step(rows, dst, dst + 64);
    }
    if (b < nb) {
        alignas(32) uint8_t tail[4][32] = {}, spare[64];
        const uint8_t* rows[4] = {tail[0], tail[1], tail[2], tail[3]};
        for (int k = 0; k < 4; ++k) std::memcpy(tail[k], src + k * row_bytes, 16);
        iq2bn_step(rows, dst, spare);
    }
}

}  // namespace

GroupKernel find_bits(const Layout& layout, Isa level) {
    const bool avx2 = level >= Isa::Avx2;
    switch (layout.kind) {
        case Kind::Q3K:
            return avx2 ? bits23_avx2<q3k_header_sse2, 110, 32, 0, 184, 56> : bits3_sse2<q3k_header_sse2, 32, 0, 184, 56>;
        case Kind::IQ3K:
            return avx2 ? bits23_avx2<iq23k_header_avx2<true>, 110, 14, 78, 56, 312>
                        : bits3_sse2<iqk_header_sse2<6, 24, true>, 14, 78, 56, 312>;
        case Kind::Q2K: return avx2 ? bits23_avx2<q2k_header_sse2, 84, 16, -1, 80, 0> : nullptr;
        case Kind::IQ2K: return avx2 ? bits23_avx2<iq23k_header_avx2<false>, 76, 12, -1, 48, 0> : nullptr;
        case Kind::IQ2BN: return avx2 ? iq2bn_avx2 : nullptr;
        default: break;
    }
    return nullptr;
}

#endif  // __x86_64__

}  // namespace wfs::repack::simd

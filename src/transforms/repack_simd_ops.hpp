// What the repack kernel families share (internal to src/transforms): x86 register moves — word
// and byte transposes across a group's rows, fields folded within bytes, delta swaps — the
// headers of ik's K types, and each family's finder, which simd::find() asks in turn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "transforms/repack_simd.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace wfs::repack::simd {

#if defined(__x86_64__)

// The group kernel of the family for this layout, or nullptr (forms up to `level`, which the
// caller has checked the CPU for). Plain word interleaves and BF16/F16 (repack_simd_words.cpp);
// 4-bit values re-paired (repack_simd_nibbles.cpp); 2- and 3-bit fields (repack_simd_bits.cpp);
// the grid i-quants (repack_simd_grids.cpp).
GroupKernel find_words(const Layout& layout, Isa level);
GroupKernel find_nibbles(const Layout& layout, Isa level);
GroupKernel find_bits(const Layout& layout, Isa level);
GroupKernel find_grids(const Layout& layout, Isa level);

// 4×4 transpose of 32-bit words: rows a..d -> columns.
inline void transpose4(__m128i& a, __m128i& b, __m128i& c, __m128i& d) {
    __m128i t0 = _mm_unpacklo_epi32(a, b), t1 = _mm_unpackhi_epi32(a, b);
    __m128i t2 = _mm_unpacklo_epi32(c, d), t3 = _mm_unpackhi_epi32(c, d);
    a = _mm_unpacklo_epi64(t0, t2);
    b = _mm_unpackhi_epi64(t0, t2);
    c = _mm_unpacklo_epi64(t1, t3);
    d = _mm_unpackhi_epi64(t1, t3);
}

// Unaligned loads: the rows of a group are row_bytes apart, anywhere in a batch.
inline __m128i load128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Folds g's 32-bit words into word 0, fields `w` bits wide: g | (g >> B1 bytes) << w, then that
// | (it >> B2 bytes) << 2w. B1 = 8, B2 = 4 leaves words 0 | 2 << w | 1 << 2w | 3 << 3w in word 0;
// B1 = 4, B2 = 8 leaves 0 | 1 << w | 2 << 2w | 3 << 3w. Every byte's fields stay in that byte.
template <int B1, int B2>
inline __m128i fold_words(__m128i g, int w) {
    g = _mm_or_si128(g, _mm_sll_epi16(_mm_srli_si128(g, B1), _mm_cvtsi32_si128(w)));
    return _mm_or_si128(g, _mm_sll_epi16(_mm_srli_si128(g, B2), _mm_cvtsi32_si128(2 * w)));
}

// Word 0 of each of w[0..3], side by side: one row's output word each, for 4 rows.
inline __m128i word0s(const __m128i* w) {
    return _mm_unpacklo_epi64(_mm_unpacklo_epi32(w[0], w[1]), _mm_unpacklo_epi32(w[2], w[3]));
}

// transpose4() in both 128-bit lanes at once.
__attribute__((target("avx2"))) inline void transpose4(__m256i& a, __m256i& b, __m256i& c, __m256i& d) {
    __m256i t0 = _mm256_unpacklo_epi32(a, b), t1 = _mm256_unpackhi_epi32(a, b);
    __m256i t2 = _mm256_unpacklo_epi32(c, d), t3 = _mm256_unpackhi_epi32(c, d);
    a = _mm256_unpacklo_epi64(t0, t2);
    b = _mm256_unpackhi_epi64(t0, t2);
    c = _mm256_unpacklo_epi64(t1, t3);
    d = _mm256_unpackhi_epi64(t1, t3);
}

__attribute__((target("avx2"))) inline __m256i load256(const uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

__attribute__((target("avx2"))) inline void store_lanes(uint8_t* lane0, uint8_t* lane1, __m256i v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0), _mm256_castsi256_si128(v));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane1), _mm256_extracti128_si256(v, 1));
}

// Byte m of 4 rows side by side, out[4m + k] = r[k][m], for the first n (4, 8 or 16) bytes of each.
inline void interleave4(const __m128i* r, uint8_t* out, int n) {
    const __m128i a = _mm_unpacklo_epi8(r[0], r[1]), b = _mm_unpacklo_epi8(r[2], r[3]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi16(a, b));
    if (n > 4) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_unpackhi_epi16(a, b));
    if (n > 8) {
        const __m128i c = _mm_unpackhi_epi8(r[0], r[1]), d = _mm_unpackhi_epi8(r[2], r[3]);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32), _mm_unpacklo_epi16(c, d));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 48), _mm_unpackhi_epi16(c, d));
    }
}
inline uint32_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// Four rows' 16-bit words (the low halves of x's 32-bit lanes): each word's even bits as one byte
// and its odd bits as another (split_bit_pairs() of repack.cpp), as the 8 bytes even0..even3,
// odd0..odd3 in the low half of the result.
inline __m128i split_pairs4(__m128i x) {
    const __m128i m = _mm_set1_epi32(0x5555);
    __m128i y = _mm_or_si128(_mm_and_si128(x, m), _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(x, 1), m), 16));
    y = _mm_and_si128(_mm_or_si128(y, _mm_srli_epi32(y, 1)), _mm_set1_epi32(0x33333333));
    y = _mm_and_si128(_mm_or_si128(y, _mm_srli_epi32(y, 2)), _mm_set1_epi32(0x0F0F0F0F));
    y = _mm_and_si128(_mm_or_si128(y, _mm_srli_epi32(y, 4)), _mm_set1_epi32(0x00FF00FF));
    const __m128i even = _mm_and_si128(y, _mm_set1_epi32(0xFF)), odd = _mm_srli_epi32(y, 16);
    return _mm_packus_epi16(_mm_packs_epi32(even, odd), _mm_setzero_si128());
}

// Two runs of scale bytes a and c (IQ*_K, IQ3_S: sub-blocks ib and ib + n) as the R-block's
// 4-bit scale bytes of one row: byte 2j is the low nibbles a[j] | c[j] << 4, byte 2j + 1 the
// high ones.
inline __m128i scale_nibble_pairs(__m128i a, __m128i c) {
    const __m128i low = _mm_set1_epi8(15);
    const __m128i p = _mm_or_si128(_mm_and_si128(a, low), _mm_slli_epi16(_mm_and_si128(c, low), 4));
    const __m128i q = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), low), _mm_andnot_si128(low, c));
    return _mm_unpacklo_epi8(p, q);
}

// The headers of IQ2_K and IQ3_K: d, the extra flags (bit pairs split, row k's in bytes k and
// k + 4), 4-bit scales (put_scales_l(): the low or high nibbles of two scale bytes ib and ib + 4
// make byte 8ib + k or 8ib + 4 + k, i.e. row k's 8 bytes P0 Q0 P1 Q1 … interleaved), and for
// IQ3_K the fifth scale bits, split like the extra flags.
template <size_t kScales, size_t kOutScales, bool kFifth>
inline void iqk_header_sse2(const uint8_t* const* rows, uint8_t* out) {
    __m128i sl[4];
    for (int k = 0; k < 4; ++k) {
        const uint8_t* b = rows[k];
        std::memcpy(out + 2 * k, b, 2);
        sl[k] = scale_nibble_pairs(_mm_cvtsi32_si128(static_cast<int>(load32(b + kScales))),
                                   _mm_cvtsi32_si128(static_cast<int>(load32(b + kScales + 4))));
    }
    interleave4(sl, out + kOutScales, 8);
    // bytes 2..5 of each row: the extra flags, then (IQ3_K) the fifth scale bits
    const __m128i w = _mm_setr_epi32(static_cast<int>(load32(rows[0] + 2)), static_cast<int>(load32(rows[1] + 2)),
                                     static_cast<int>(load32(rows[2] + 2)), static_cast<int>(load32(rows[3] + 2)));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 8), split_pairs4(_mm_and_si128(w, _mm_set1_epi32(0xFFFF))));
    if (kFifth) _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 16), split_pairs4(_mm_srli_epi32(w, 16)));
}

// 8 words of each of 4 rows (w[k], word ib) as out[4ib + k], 128 bytes: the 4×4 transposes run
// lane by lane (ib 0..3, 4..7), and lanes pair up for 32-byte stores.
__attribute__((target("avx2"))) inline void store_words4x8(__m256i* w, uint8_t* out) {
    transpose4(w[0], w[1], w[2], w[3]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(w[0], w[1], 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32), _mm256_permute2x128_si256(w[2], w[3], 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64), _mm256_permute2x128_si256(w[0], w[1], 0x31));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 96), _mm256_permute2x128_si256(w[2], w[3], 0x31));
}

// 8 eight-byte fields of each of 4 rows (row k's 64 bytes in r[2k], r[2k + 1]) as out[4ib + k]
// (8-byte units), 256 bytes.
__attribute__((target("avx2"))) inline void store_qwords4x8(const __m256i* r, uint8_t* out) {
    for (int half = 0; half < 2; ++half) {
        const __m256i r0 = r[half], r1 = r[2 + half], r2 = r[4 + half], r3 = r[6 + half];
        const __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);
        const __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);
        uint8_t* at = out + 128 * half;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(at), _mm256_permute2x128_si256(t0, t2, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(at + 32), _mm256_permute2x128_si256(t1, t3, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(at + 64), _mm256_permute2x128_si256(t0, t2, 0x31));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(at + 96), _mm256_permute2x128_si256(t1, t3, 0x31));
    }
}

// Each of the N rows' block two ahead: the hardware prefetcher loses track of 4 or 8 interleaved
// row streams (measured: Q2_K 1.8 → 3.9 GB/s, Q6_K 1.9 → 5.3 from this alone).
template <int N = 4>
inline void prefetch_rows(const uint8_t* const* rows, size_t block) {
    for (int k = 0; k < N; ++k)
        for (size_t line = 0; line < block; line += 64) _mm_prefetch(reinterpret_cast<const char*>(rows[k] + 2 * block + line), _MM_HINT_T0);
}
// The 4 rows' fp16 d, first in both source blocks and R-blocks of the i-quants.
inline void d4(const uint8_t* const* rows, uint8_t* out) {
    for (int k = 0; k < 4; ++k) std::memcpy(out + 2 * k, rows[k], 2);
}

// x ^ t ^ t << d with t = (x >> d ^ x) & mask, in 32- or 64-bit lanes: exchanges the bits the mask
// selects with those d above them.
template <int D, uint32_t Mask>
inline __m128i delta_swap32(__m128i x) {
    const __m128i t = _mm_and_si128(_mm_xor_si128(_mm_srli_epi32(x, D), x), _mm_set1_epi32(static_cast<int>(Mask)));
    return _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi32(t, D)));
}
template <int D, uint64_t Mask>
inline __m128i delta_swap64(__m128i x) {
    const __m128i t = _mm_and_si128(_mm_xor_si128(_mm_srli_epi64(x, D), x), _mm_set1_epi64x(static_cast<long long>(Mask)));
    return _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, D)));
}
// The same in eight 32-bit lanes.
__attribute__((target("avx2"))) inline __m256i delta_swap(__m256i x, int d, uint32_t mask) {
    const __m256i t = _mm256_and_si256(_mm256_xor_si256(_mm256_srl_epi32(x, _mm_cvtsi32_si128(d)), x), _mm256_set1_epi32(static_cast<int>(mask)));
    return _mm256_xor_si256(x, _mm256_xor_si256(t, _mm256_sll_epi32(t, _mm_cvtsi32_si128(d))));
}

// Bytes i + 4t to 4i + t in each lane (a 4×4 byte transpose; its own inverse).
__attribute__((target("avx2"))) inline __m256i gather_stride4(__m256i x) {
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,  //
                                                   0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
}

// In each 16 bytes (a lane): byte i + 4t holds four 2-bit fields j at 2j; out, word j holds in
// byte i the fields j of bytes i, i+4, i+8, i+12 at 2t (kMixed: of bytes i, i+8, i+4, i+12, Q6_K's
// order). The bytes are gathered into word i, the fields transposed in each word (field j of byte
// t, bit 8t + 2j, to 8j + 2t: two delta swaps), and the bytes gathered back.
template <bool kMixed = false>
__attribute__((target("avx2"))) inline __m256i fields2_transpose(__m256i x) {
    if constexpr (kMixed)
        x = _mm256_shuffle_epi8(x, _mm256_setr_epi8(0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15,  //
                                                    0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15));
    else
        x = gather_stride4(x);
    x = delta_swap(x, 12, 0x0000F0F0u);
    x = delta_swap(x, 6, 0x00CC00CCu);
    return gather_stride4(x);
}
// fields2_transpose() of 32 bytes at `at` of each of the 4 rows, then word j of the rows side by
// side: v[j] holds field j's output bytes of rows 0..3, each lane its own 16 source bytes.
template <bool kMixed = false>
__attribute__((target("avx2"))) inline void fields2_rows(const uint8_t* const* rows, size_t at, __m256i* v) {
    for (int k = 0; k < 4; ++k) v[k] = fields2_transpose<kMixed>(load256(rows[k] + at));
    transpose4(v[0], v[1], v[2], v[3]);
}

// The 8 bit planes of 32 bytes per row (bit ib of byte v: sub-block ib's bit of value v) as the
// R-block's: plane ib of row k at out + 16ib + 4k, its byte i holding values i + 4s in the
// order s = Order's nibbles, lowest first (Q3_K's third bits: 0..7; Q5_K's fifth bits
// 0 2 1 3 4 6 5 7; IQ5_K's 0 2 4 6 1 3 5 7). An 8×8 bit transpose: the bytes ordered 8i + t
// (value i + 4s(t)), movemask of the bytes shifted up 7 - ib is plane ib's 4 bytes.
template <uint32_t Order>
__attribute__((target("avx2"))) inline void bit_planes4(const uint8_t* const* rows, size_t at, uint8_t* out) {
    constexpr auto o = [](int t) { return static_cast<char>((Order >> (4 * t)) & 15); };
    const __m256i interleave = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i order = _mm256_setr_epi8(o(0), o(1), o(2), o(3), o(4), o(5), o(6), o(7),  //
                                           8 + o(0), 8 + o(1), 8 + o(2), 8 + o(3), 8 + o(4), 8 + o(5), 8 + o(6), 8 + o(7),
                                           o(0), o(1), o(2), o(3), o(4), o(5), o(6), o(7),  //
                                           8 + o(0), 8 + o(1), 8 + o(2), 8 + o(3), 8 + o(4), 8 + o(5), 8 + o(6), 8 + o(7));
    for (int k = 0; k < 4; ++k) {
        __m256i x = _mm256_permutevar8x32_epi32(gather_stride4(load256(rows[k] + at)), interleave);  // byte 8i + s: value i + 4s
        if constexpr (Order != 0x76543210u) x = _mm256_shuffle_epi8(x, order);
        for (int ib = 7; ib >= 0; --ib, x = _mm256_add_epi8(x, x)) {
            const uint32_t m = static_cast<uint32_t>(_mm256_movemask_epi8(x));
            std::memcpy(out + 16 * ib + 4 * k, &m, 4);
        }
    }
}

// The same in four 64-bit lanes.
__attribute__((target("avx2"))) inline __m256i delta_swap64(__m256i x, int d, uint64_t mask) {
    const __m256i t = _mm256_and_si256(_mm256_xor_si256(_mm256_srl_epi64(x, _mm_cvtsi32_si128(d)), x), _mm256_set1_epi64x(static_cast<long long>(mask)));
    return _mm256_xor_si256(x, _mm256_xor_si256(t, _mm256_sll_epi64(t, _mm_cvtsi32_si128(d))));
}

#endif  // __x86_64__

}  // namespace wfs::repack::simd

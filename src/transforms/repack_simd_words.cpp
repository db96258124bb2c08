// Repack kernels for the types whose R-blocks move whole 32-bit words: Q4_0, Q8_0 and MXFP4
// (8 rows; AVX2 8×8 transposes, SSE2 4×4 ones) and BF16/F16 → BF16_R16 (16 rows of element pairs).
#include "transforms/repack_simd_ops.hpp"

namespace wfs::repack::simd {

#if defined(__x86_64__)
namespace {

// 8×8 transpose of 32-bit words, in place: r[k] holds words 0..7 of row k, then word k of rows 0..7.
__attribute__((target("avx2"))) inline void transpose8(__m256i* r) {
    __m256i t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_epi32(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_epi32(r[k], r[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);
        u[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);
        u[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);
        u[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);
    }
    for (int g = 0; g < 4; ++g) {
        r[g] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x20);
        r[g + 4] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x31);
    }
}

// Block b of the 8 rows: per row `S` scale bytes then `QS` quant bytes. Output R-block: the 8
// scales, then for each 4-byte group g the g-th word of rows 0..7.
template <unsigned S>
inline void scales8(const uint8_t* src, size_t row_bytes, uint8_t* out) {
    for (int k = 0; k < 8; ++k) std::memcpy(out + S * k, src + k * row_bytes, S);
}

template <unsigned S>
__attribute__((target("avx2"))) void q32_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr unsigned block = S + 32;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 8 * block) {
        scales8<S>(src, row_bytes, dst);
        __m256i r[8];
        for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + k * row_bytes + S));
        transpose8(r);
        uint8_t* qs = dst + 8 * S;
        for (int g = 0; g < 8; ++g) _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * g), r[g]);
    }
}

// QS = 16 (Q4_0, MXFP4) or 32 (Q8_0) with SSE2: each 16-byte column of 4 rows is one transpose.
template <unsigned S, unsigned QS>
void q_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr unsigned block = S + QS;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 8 * block) {
        scales8<S>(src, row_bytes, dst);
        uint8_t* qs = dst + 8 * S;
        for (unsigned half = 0; half < QS / 16; ++half)      // words 4h..4h+3 of each row
            for (unsigned quad = 0; quad < 2; ++quad) {       // rows 4q..4q+3
                __m128i v[4];
                for (int k = 0; k < 4; ++k)
                    v[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + (4 * quad + k) * row_bytes + S + 16 * half));
                transpose4(v[0], v[1], v[2], v[3]);
                for (int g = 0; g < 4; ++g)
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * (4 * half + g) + 16 * quad), v[g]);
            }
    }
}

// QS = 16 (Q4_0, MXFP4) with AVX2: blocks b and b + 1 of a row in the two lanes of one register,
// so one 8×8 transpose yields both R-blocks' words; an odd last block through the SSE2 kernel.
template <unsigned S>
__attribute__((target("avx2"))) void q16_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr unsigned block = S + 16;
    size_t b = 0;
    for (; b + 2 <= nb; b += 2, src += 2 * block, dst += 16 * block) {
        scales8<S>(src, row_bytes, dst);
        scales8<S>(src + block, row_bytes, dst + 8 * block);
        __m256i r[8];
        for (int k = 0; k < 8; ++k) {
            const uint8_t* q = src + k * row_bytes + S;
            r[k] = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(q + block), reinterpret_cast<const __m128i*>(q));
        }
        transpose8(r);
        for (int g = 0; g < 4; ++g) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 8 * S + 32 * g), r[g]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 8 * block + 8 * S + 32 * g), r[g + 4]);
        }
    }
    if (b < nb) q_sse2<S, 16>(src, dst, row_bytes, 1);
}

// BF16/F16 → BF16_R16: 16 rows' 32-bit pairs, pair b of rows 0..15 side by side (64 bytes per
// pair). Eight pairs of each row per step, two 8×8 transposes of 32-bit words.
// F16 is widened as r_bf16() does it, exactly, then truncated: F16C's conversion is exact for
// every finite half (subnormals included), and Inf/NaN are rebuilt from the half's bits, because
// the hardware sets a signalling NaN's quiet bit where r_bf16() keeps the payload as it is.
__attribute__((target("avx2,f16c"))) inline __m256i f16_to_bf16_16(__m256i h) {
    const __m256i lo = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtph_ps(_mm256_castsi256_si128(h))), 16);
    const __m256i hi = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtph_ps(_mm256_extracti128_si256(h, 1))), 16);
    const __m256i finite = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);  // packus works lane by lane
    const __m256i exp = _mm256_set1_epi16(0x7C00);
    const __m256i special = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16(static_cast<short>(0x8000))),
                                            _mm256_or_si256(_mm256_set1_epi16(0x7F80), _mm256_and_si256(_mm256_srli_epi16(h, 3), _mm256_set1_epi16(0x7F))));
    return _mm256_blendv_epi8(finite, special, _mm256_cmpeq_epi16(_mm256_and_si256(h, exp), exp));
}
template <bool F16>
__attribute__((target("avx2,f16c"))) inline __m256i pairs8(const uint8_t* p) {
    const __m256i v = load256(p);
    return F16 ? f16_to_bf16_16(v) : v;
}
// Pairs j..j+7 of the 16 rows at p[k] to out (8 × 64 bytes).
template <bool F16>
__attribute__((target("avx2,f16c"))) inline void r16_step(const uint8_t* const* p, uint8_t* out) {
    for (int half = 0; half < 2; ++half) {  // rows 0..7, then 8..15
        __m256i r[8];
        for (int k = 0; k < 8; ++k) r[k] = pairs8<F16>(p[8 * half + k]);
        transpose8(r);
        for (int g = 0; g < 8; ++g) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * g + 32 * half), r[g]);
    }
}
template <bool F16>
__attribute__((target("avx2,f16c"))) void bf16r16_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    const uint8_t* p[16];
    size_t j = 0;
    for (; j + 8 <= nb; j += 8, dst += 8 * 64) {
        for (int k = 0; k < 16; ++k) {
            p[k] = src + k * row_bytes + 4 * j;
            _mm_prefetch(reinterpret_cast<const char*>(p[k] + 128), _MM_HINT_T0);
        }
        r16_step<F16>(p, dst);
    }
    if (j < nb) {  // the last 1..7 pairs through zero-padded copies
        alignas(32) uint8_t tail[16][32] = {}, out[8 * 64];
        for (int k = 0; k < 16; ++k) {
            std::memcpy(tail[k], src + k * row_bytes + 4 * j, 4 * (nb - j));
            p[k] = tail[k];
        }
        r16_step<F16>(p, out);
        std::memcpy(dst, out, 64 * (nb - j));
    }
}

}  // namespace

GroupKernel find_words(const Layout& layout, Isa level) {
    const bool avx2 = level >= Isa::Avx2;
    if (layout.kind == Kind::BF16) return avx2 ? bf16r16_avx2<false> : nullptr;
    if (layout.kind == Kind::F16) return avx2 ? bf16r16_avx2<true> : nullptr;
    if (layout.kind != Kind::Interleave) return nullptr;
    if (layout.qs_bytes == 32) {
        if (layout.scale_bytes == 2) return avx2 ? q32_avx2<2> : q_sse2<2, 32>;
        if (layout.scale_bytes == 1) return avx2 ? q32_avx2<1> : q_sse2<1, 32>;
    }
    if (layout.qs_bytes == 16) {
        if (layout.scale_bytes == 2) return avx2 ? q16_avx2<2> : q_sse2<2, 16>;
        if (layout.scale_bytes == 1) return avx2 ? q16_avx2<1> : q_sse2<1, 16>;
    }
    return nullptr;
}

#endif  // __x86_64__

}  // namespace wfs::repack::simd

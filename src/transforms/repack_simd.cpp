#include "transforms/repack_simd.hpp"

#include "transforms/repack.hpp"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace wfs::repack::simd {

namespace {

#if defined(__x86_64__)

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
        uint8_t* qs = dst + 8 * S;
        for (int g = 0; g < 4; ++g) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * g), _mm256_permute2x128_si256(u[g], u[g + 4], 0x20));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * (g + 4)), _mm256_permute2x128_si256(u[g], u[g + 4], 0x31));
        }
    }
}

// 4×4 transpose of 32-bit words: rows a..d -> columns.
inline void transpose4(__m128i& a, __m128i& b, __m128i& c, __m128i& d) {
    __m128i t0 = _mm_unpacklo_epi32(a, b), t1 = _mm_unpackhi_epi32(a, b);
    __m128i t2 = _mm_unpacklo_epi32(c, d), t3 = _mm_unpackhi_epi32(c, d);
    a = _mm_unpacklo_epi64(t0, t2);
    b = _mm_unpackhi_epi64(t0, t2);
    c = _mm_unpacklo_epi64(t1, t3);
    d = _mm_unpackhi_epi64(t1, t3);
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

// Q4_K → Q4_K_R4, 4 rows. Sub-block ib takes the low (even ib) or high (odd ib) nibbles N[0..32)
// of quant bytes 32·(ib/2)…; each output byte of row k is N[a+i] | N[b+i] << 4 with
// (a, b) = (0, 8), (16, 24), (4, 12), (20, 28) for the four 4-byte groups p: the low nibbles are
// the 32-bit interleave of N's two halves, the high ones its other interleave. A 4×4 transpose then
// puts group p of rows 0..3 together.
void q4k_sse2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 144;
    const __m128i low = _mm_set1_epi8(15);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        q4k_header(rows, dst);
        uint8_t* qs = dst + 64;
        for (int ib = 0; ib < 8; ++ib) {
            const int c = ib / 2, shift = 4 * (ib % 2);
            __m128i v[4];
            for (int k = 0; k < 4; ++k) {
                const uint8_t* q = rows[k] + 16 + 32 * c;
                __m128i h0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
                __m128i h1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16));
                h0 = _mm_and_si128(_mm_srli_epi16(h0, shift), low);
                h1 = _mm_and_si128(_mm_srli_epi16(h1, shift), low);
                v[k] = _mm_or_si128(_mm_unpacklo_epi32(h0, h1), _mm_slli_epi16(_mm_unpackhi_epi32(h0, h1), 4));
            }
            transpose4(v[0], v[1], v[2], v[3]);
            for (int p = 0; p < 4; ++p) _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 64 * ib + 16 * p), v[p]);
        }
    }
}

#endif  // __x86_64__

}  // namespace

GroupKernel find(const Layout& layout) {
#if defined(__x86_64__)
    const bool avx2 = __builtin_cpu_supports("avx2");
    if (layout.kind == Kind::Q4K) return q4k_sse2;
    if (layout.kind != Kind::Interleave) return nullptr;
    if (layout.qs_bytes == 32) {
        if (layout.scale_bytes == 2) return avx2 ? q32_avx2<2> : q_sse2<2, 32>;
        if (layout.scale_bytes == 1) return avx2 ? q32_avx2<1> : q_sse2<1, 32>;
    }
    if (layout.qs_bytes == 16) {
        if (layout.scale_bytes == 2) return q_sse2<2, 16>;
        if (layout.scale_bytes == 1) return q_sse2<1, 16>;
    }
#endif
    (void)layout;
    return nullptr;
}

const char* isa(const Layout& layout) {
    if (!find(layout)) return "scalar";
#if defined(__x86_64__)
    return layout.kind == Kind::Interleave && layout.qs_bytes == 32 && __builtin_cpu_supports("avx2") ? "avx2" : "sse2";
#else
    return "scalar";
#endif
}

}  // namespace wfs::repack::simd

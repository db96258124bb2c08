// The E4M3FN → BF16 inner loop, in its own file so meson can build it at -O3: GCC 12
// vectorizes it there and not at -O2. Exact IEEE arithmetic only (no fast-math).
#include <bit>
#include <climits>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "transforms/fp8.hpp"

namespace wfs::fp8 {

// Branch-free so that GCC vectorizes it: an E4M3FN byte becomes fp32 bits directly (normal:
// exponent + 120 and mantissa moved up; subnormal: m × 2^-9, exact), one fp32 multiply, then the
// integer round-to-nearest-even. Bit-identical to the table path (checked in the unit tests).
static inline __attribute__((always_inline)) void run_e4m3(const uint8_t* __restrict src, size_t count, float scale,
                                                            uint16_t* __restrict dst) {
    for (size_t i = 0; i < count; ++i) {
        const uint32_t b = src[i], x = b & 0x7F;
        // Selections as masks, not branches, so the loop vectorizes.
        const uint32_t normal = 0u - static_cast<uint32_t>(x >= 8), nan_in = 0u - static_cast<uint32_t>(x == 0x7F);
        const uint32_t sub_bits = std::bit_cast<uint32_t>(static_cast<float>(x & 7) * 0.001953125f);
        uint32_t mag = (((x << 20) + (120u << 23)) & normal) | (sub_bits & ~normal);
        mag = (mag & ~nan_in) | (0x7FC00000u & nan_in);
        const float p = std::bit_cast<float>(((b & 0x80) << 24) | mag) * scale;
        const uint32_t u = std::bit_cast<uint32_t>(p);
        const uint32_t nan_out = 0u - static_cast<uint32_t>((u & 0x7FFFFFFFu) > 0x7F800000u);
        const uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
        dst[i] = static_cast<uint16_t>((r & ~nan_out) | (0x7FC0u & nan_out));
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define WFS_FP8_AVX512 1
// GCC 12 warns inside its own avx512fintrin.h (_mm512_undefined_* "may be used uninitialized").
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same arithmetic written for AVX-512F by hand (GCC's vectorization of the loop above
// widens and narrows through several shuffles): 16 codes per step, the selections as mask
// registers, the RNE narrowing with vpmovdw. A code that is NaN (0x7F/0xFF) gives a NaN
// product, so one NaN test on the product covers input and output.
__attribute__((target("avx512f"))) static void runs_e4m3_avx512(const uint8_t* __restrict src, const Run* runs, size_t n,
                                                                  uint16_t* __restrict dst) {
    const __m512i k7F = _mm512_set1_epi32(0x7F), k80 = _mm512_set1_epi32(0x80), k7 = _mm512_set1_epi32(7),
                  k8 = _mm512_set1_epi32(8), kBias = _mm512_set1_epi32(120 << 23), kAbs = _mm512_set1_epi32(0x7FFFFFFF),
                  kInf = _mm512_set1_epi32(0x7F800000), kRound = _mm512_set1_epi32(0x7FFF), kOne = _mm512_set1_epi32(1),
                  kNaN = _mm512_set1_epi32(0x7FC0);
    const __m512 kSub = _mm512_set1_ps(0.001953125f);  // 2^-9: subnormal m × 2^-9, exact
    for (size_t r = 0; r < n; ++r) {
        const size_t count = runs[r].count;
        const __m512 scale = _mm512_set1_ps(runs[r].scale);
        size_t i = 0;
        for (; i + 16 <= count; i += 16) {
            const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
            const __m512i x = _mm512_and_si512(b, k7F);
            const __mmask16 normal = _mm512_cmpge_epu32_mask(x, k8), nan_in = _mm512_cmpeq_epi32_mask(x, k7F);
            const __m512i sub = _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(x, k7)), kSub));
            const __m512i mag = _mm512_mask_blend_epi32(normal, sub, _mm512_add_epi32(_mm512_slli_epi32(x, 20), kBias));
            const __m512i bits = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(b, k80), 24), mag);
            const __m512i u = _mm512_castps_si512(_mm512_mul_ps(_mm512_castsi512_ps(bits), scale));
            const __mmask16 nan = nan_in | _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, kAbs), kInf);
            const __m512i rounded = _mm512_srli_epi32(
                _mm512_add_epi32(_mm512_add_epi32(u, kRound), _mm512_and_si512(_mm512_srli_epi32(u, 16), kOne)), 16);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                                _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, kNaN)));
        }
        run_e4m3(src + i, count - i, runs[r].scale, dst + i);
        src += count;
        dst += count;
    }
}
#pragma GCC diagnostic pop
#endif

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void dequant_runs_e4m3_generic(const uint8_t* __restrict src, const Run* runs, size_t n, uint16_t* __restrict dst) {
    for (size_t r = 0; r < n; ++r) {
        run_e4m3(src, runs[r].count, runs[r].scale, dst);
        src += runs[r].count;
        dst += runs[r].count;
    }
}

namespace {
bool has_avx512() {
#ifdef WFS_FP8_AVX512
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
    }();
    return yes;
#else
    return false;
#endif
}
}  // namespace

// Many runs per call: the ISA dispatch and the loop set-up are paid once per range, not once per
// 128-element scale block.
void dequant_runs_e4m3(const uint8_t* __restrict src, const Run* runs, size_t n, uint16_t* __restrict dst) {
#ifdef WFS_FP8_AVX512
    if (has_avx512()) return runs_e4m3_avx512(src, runs, n, dst);
#endif
    dequant_runs_e4m3_generic(src, runs, n, dst);
}

void dequant_run_e4m3(const uint8_t* __restrict src, size_t count, float scale, uint16_t* __restrict dst) {
    const Run run{static_cast<uint32_t>(count), scale};
    if (count > UINT32_MAX) {  // one Run holds 32 bits of count
        dequant_run_e4m3(src, count / 2, scale, dst);
        return dequant_run_e4m3(src + count / 2, count - count / 2, scale, dst + count / 2);
    }
    dequant_runs_e4m3(src, &run, 1, dst);
}

const char* kernel_isa() {
    if (has_avx512()) return "avx512f";
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "scalar";
}

}  // namespace wfs::fp8

// The E4M3FN → BF16 inner loop, in its own file so meson can build it at -O3: GCC 12
// vectorizes it there and not at -O2. Exact IEEE arithmetic only (no fast-math).
#include <bit>
#include <cstring>

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
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void dequant_run_e4m3(const uint8_t* __restrict src, size_t count, float scale, uint16_t* __restrict dst) {
    run_e4m3(src, count, scale, dst);
}

// Many runs per call: the ISA dispatch and the loop set-up are paid once per range, not once per
// 128-element scale block.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void dequant_runs_e4m3(const uint8_t* __restrict src, const Run* runs, size_t n, uint16_t* __restrict dst) {
    for (size_t r = 0; r < n; ++r) {
        run_e4m3(src, runs[r].count, runs[r].scale, dst);
        src += runs[r].count;
        dst += runs[r].count;
    }
}

const char* kernel_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "scalar";
}

}  // namespace wfs::fp8

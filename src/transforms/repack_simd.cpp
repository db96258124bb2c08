#include "transforms/repack_simd.hpp"

#include <algorithm>
#include <initializer_list>

#include "transforms/repack_simd_ops.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace wfs::repack::simd {

namespace {
#if defined(__x86_64__)
// What the CPU runs, asked once.
Isa cpu_isa() {
    static const Isa level = [] {
        __builtin_cpu_init();
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;  // F16C: CPUID 1, ECX bit 29 (clang 14's builtin lacks the name)
        const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
        if (!__builtin_cpu_supports("avx2") || !f16c) return Isa::Sse2;
        const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("gfni");
        return avx512 ? Isa::Avx512 : Isa::Avx2;
    }();
    return level;
}
#endif
}  // namespace

GroupKernel find(const Layout& layout, Isa max) {
#if defined(__x86_64__)
    const Isa level = std::min(max, cpu_isa());
    for (auto family : {find_words, find_nibbles, find_bits, find_grids})
        if (GroupKernel kernel = family(layout, level)) return kernel;
#else
    (void)layout;
    (void)max;
#endif
    return nullptr;  // the portable kernels of repack.cpp
}

const char* isa(const Layout& layout) {
    // The lowest level whose best kernel is the one this CPU runs.
    const GroupKernel best = find(layout);
    if (!best) return "scalar";
    if (best == find(layout, Isa::Sse2)) return "sse2";
    return best == find(layout, Isa::Avx2) ? "avx2" : "avx512";
}

}  // namespace wfs::repack::simd

#include "transforms/repack_simd.hpp"

#include <initializer_list>

#include "transforms/repack_simd_ops.hpp"

namespace wfs::repack::simd {

GroupKernel find(const Layout& layout, bool allow_avx2) {
#if defined(__x86_64__)
    // "AVX2" forms may also use F16C, which every AVX2 CPU has (both are x86-64-v3).
    const bool avx2 = allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    for (auto family : {find_words, find_nibbles, find_bits, find_grids})
        if (GroupKernel kernel = family(layout, avx2)) return kernel;
#else
    (void)layout;
    (void)allow_avx2;
#endif
    return nullptr;  // the portable kernels of repack.cpp
}

const char* isa(const Layout& layout) {
    // AVX2 when this CPU's best kernel is not the one a CPU without AVX2 gets.
    const GroupKernel best = find(layout);
    if (!best) return "scalar";
    return best == find(layout, false) ? "sse2" : "avx2";
}

}  // namespace wfs::repack::simd

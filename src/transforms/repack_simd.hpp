// Vectorized repack. The types whose R-blocks are pure 4-byte interleaves — Q4_0 → Q4_0_R8,
// Q8_0 → Q8_0_R8, MXFP4 → MXFP4_R8: the quants of 8 rows are an 8×(QS/4) matrix of 32-bit
// words, transposed; AVX2 when the CPU has it (an 8×8 transpose in registers), else SSE2 (4×4
// transposes, always present on x86-64). And the quants of Q4_K → Q4_K_R4, IQ4_XS → IQ4_XS_R8,
// Q5_K → Q5_K_R4 and Q6_K → Q6_K_R4 (SSE2 and AVX2), Q3_K and IQ3_K → *_R4 (SSE2). The scalar
// kernels in repack.cpp define the layouts and the unit tests check these against them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wfs::repack::simd {

// Interleave: 8 rows, per block `scale_bytes` (2: fp16 d of Q4_0/Q8_0, 1: e8m0 of MXFP4) then
// `qs_bytes` (16 or 32). Q4K: 4 rows of Q4_K — the header is the scalar q4k_header(), the 128
// quant bytes of each row are nibble re-pairings done as byte shuffles and a 4×4 transpose.
// IQ4XS: 8 rows of IQ4_XS — the header is the scalar iq4xs_header(), the quants likewise.
// Q5K, Q6K: 4 rows of Q5_K, Q6_K — nibble re-pairing as Q4K, the high bits by shifted ORs.
// Q3K, IQ3K: 4 rows of Q3_K, IQ3_K (SSE2) — scalar headers, the 3-bit fields by shifted ORs.
enum class Kind { None, Interleave, Q4K, IQ4XS, Q5K, Q6K, Q3K, IQ3K };
struct Layout {
    Kind kind = Kind::None;
    unsigned scale_bytes = 0, qs_bytes = 0;
};

// Repacks `nb` blocks of each of the group's rows (`row_bytes` apart, from `src`) into `dst`.
using GroupKernel = void (*)(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb);

// The best kernel this CPU runs for the layout (AVX2 only when `avx2`), or nullptr when there is none.
GroupKernel find(const Layout& layout, bool avx2 = true);
// Which instruction set find() picked: "avx2", "sse2" or "scalar".
const char* isa(const Layout& layout);

}  // namespace wfs::repack::simd

// Vectorized repack of the types whose R-blocks are pure 4-byte interleaves — Q4_0 → Q4_0_R8,
// Q8_0 → Q8_0_R8, MXFP4 → MXFP4_R8: the quants of 8 rows are an 8×(QS/4) matrix of 32-bit
// words, transposed. AVX2 when the CPU has it (an 8×8 transpose in registers), else SSE2 (4×4
// transposes, always present on x86-64). The scalar kernels in repack.cpp define the layout and
// the unit tests check these against them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wfs::repack::simd {

// Repacks `nb` blocks of each of 8 rows (`row_bytes` apart, starting at `src`) into `dst`.
// scale_bytes: 2 (Q4_0, Q8_0: fp16 d) or 1 (MXFP4: e8m0); qs_bytes: 16 or 32.
using GroupKernel = void (*)(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb);

// The best kernel this CPU runs for (scale_bytes, qs_bytes), or nullptr when there is none.
GroupKernel find(unsigned scale_bytes, unsigned qs_bytes);
// Which instruction set find() picked for these sizes: "avx2", "sse2" or "scalar".
const char* isa(unsigned scale_bytes, unsigned qs_bytes);

}  // namespace wfs::repack::simd

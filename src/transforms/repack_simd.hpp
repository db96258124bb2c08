// Vectorized repack: a group kernel for every type in the repack table, each checked by the unit
// tests against the scalar kernels in repack.cpp, which define the layouts. All of them are the
// same few moves — transposes of 32- or 64-bit words or of bytes across the group's rows, nibble
// re-pairings, and bit transposes done with delta swaps, shifted ORs or movemasks — and AVX2 when
// the CPU has it; SSE2 (always there on x86-64) is the fallback where it moves a block as fast or
// where one had been written first (Q4_K, Q5_K, Q6_K, IQ4_XS, Q3_K, IQ3_K, Q8_0). A few have an
// AVX-512 form where its instructions do in one what AVX2 takes a dozen for (IQ2_XXS, IQ3_XXS).
#pragma once

#include <cstddef>
#include <cstdint>

namespace wfs::repack::simd {

// The kernel family of a type:
// Interleave  8 rows whose blocks are `scale_bytes` (2: fp16 d of Q4_0/Q8_0, 1: e8m0 of MXFP4)
//             then `qs_bytes` (16 or 32) moved as 4-byte words: an 8×8 (AVX2) or 4×4 transpose.
// Q4K, Q5K, Q6K, IQ4XS   nibble re-pairings by byte shuffles and a 4×4 transpose; Q5_K's fifth
//             bits as 8×8 bit transposes (movemask), Q6_K's high bits by shifted ORs. Headers by
//             whole-word bit moves.
// Q3K, IQ3K, Q2K, IQ2K   2-bit fields as a 4×4 transpose of fields in a word (two delta swaps),
//             the third bits as an 8×8 bit transpose (movemask); headers byte interleaves.
// IQ2XXS, IQ3XXS, IQ2XS, IQ2S, IQ3S   word, 8-byte or byte interleaves, the sign fields
//             prefix-XOR'd (IQ2_XXS, IQ3_XXS, IQ2_XS) or bit-permuted (IQ3_S) 8 words at a time.
// IQ4K, IQ5K, IQ4KS, IQ5KS   nibbles re-paired as Q4K, fifth bits as Q5K's in another order; the
//             KS types' per-row scales are copied by repack_groups() before the kernel runs.
// IQ4NL, Q50, Q60, IQ2BN   32- or 64-element blocks: nibble pairs (IQ2_BN: 2-bit fields) and
//             high bits by delta swaps.
// BF16, F16   16 rows' element pairs transposed, F16 widened exactly and truncated to BF16.
enum class Kind { None, Interleave, Q4K, IQ4XS, Q5K, Q6K, Q3K, IQ3K, Q2K, IQ2K, IQ2XXS, IQ3XXS, IQ2XS, IQ2S, IQ3S,
                  IQ4K, IQ5K, IQ4KS, IQ5KS, IQ4NL, Q50, Q60, IQ2BN, BF16, F16 };
struct Layout {
    Kind kind = Kind::None;
    unsigned scale_bytes = 0, qs_bytes = 0;
};

// Repacks `nb` blocks of each of the group's rows (`row_bytes` apart, from `src`) into `dst`.
using GroupKernel = void (*)(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb);

// Instruction set levels of the kernels. Avx2 includes F16C; Avx512 is F, BW, VL, VBMI and GFNI
// (Ice Lake, Zen 4 and later), used on 256-bit registers.
enum class Isa { Sse2, Avx2, Avx512 };

// The best kernel this CPU runs for the layout up to level `max`, or nullptr when there is none.
GroupKernel find(const Layout& layout, Isa max = Isa::Avx512);
// Which level find() picked: "avx512", "avx2", "sse2" or "scalar".
const char* isa(const Layout& layout);

}  // namespace wfs::repack::simd

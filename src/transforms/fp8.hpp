// FP8 → BF16 block dequantization, as DeepSeek's fp8_cast_bf16.py computes it
// (reference/fp8-bf16.md §0, §3):
//   out[i][j] = bf16_rne( decode(W[i][j]) * S[i/128][j/128] )
// with an exact FP8 decode (a 256-entry table), one fp32 multiply, then round-to-nearest-even to
// bf16 (NaN → 0x7FC0). Two roundings on purpose: that is what the reference computes. No fast
// math anywhere; the integer rounding keeps subnormals.
#pragma once

#include <cstdint>
#include <cstring>

#include "formats/safetensors.hpp"
#include "weightfs/extent.hpp"

namespace wfs::fp8 {

inline constexpr uint64_t kBlock = 128;

// Exact fp32 value of every FP8 code (E4M3FN or E5M2).
const float* decode_table(st::Dtype dtype);

inline uint16_t bf16_rne(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
    return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// Widens one scale value (F32, BF16 or F16) exactly to fp32.
float scale_to_f32(st::Dtype dtype, const uint8_t* p);

// Dequantizes `count` consecutive elements of one row segment that shares one scale.
void dequant_run(const uint8_t* src, size_t count, const float* table, float scale, uint16_t* dst);

// The same for E4M3FN computed arithmetically (no table): AVX-512F by hand, or the compiler's
// AVX2 / baseline x86-64 vectorization, chosen at run time.
void dequant_run_e4m3(const uint8_t* src, size_t count, float scale, uint16_t* dst);
// Consecutive runs of E4M3FN, each with its own scale, in one call.
struct Run {
    uint32_t count;
    float scale;
};
void dequant_runs_e4m3(const uint8_t* src, const Run* runs, size_t n, uint16_t* dst);
// The compiler-vectorized form (AVX2 or baseline) used where AVX-512F is absent; callable
// directly so the tests can hold every form to the table path.
void dequant_runs_e4m3_generic(const uint8_t* src, const Run* runs, size_t n, uint16_t* dst);
// The instruction set the dispatcher picked, for reports.
const char* kernel_isa();

// How a weight's scales map onto it: DeepSeek's 128×128 block grid (*_scale_inv), or
// compressed-tensors' per-row (channel) and per-tensor weight_scale. The scale always multiplies.
enum class ScaleLayout { Block128, PerRow, PerTensor };

// One FP8 weight [rows, cols] with its scales, served as the BF16 tensor's bytes.
class DequantPiece final : public Piece {
public:
    DequantPiece(SourceFilePtr weight_file, uint64_t weight_offset, st::Dtype weight_dtype, SourceFilePtr scale_file,
                 uint64_t scale_offset, st::Dtype scale_dtype, uint64_t rows, uint64_t cols,
                 ScaleLayout layout = ScaleLayout::Block128);
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    const SourceFile* source() const override { return weight_.get(); }

private:
    // Writes BF16 elements [first, first + count) to dst.
    Status produce_elements(uint64_t first, uint64_t count, uint16_t* dst) const;

    SourceFilePtr weight_, scale_;
    uint64_t weight_offset_, scale_offset_;
    const float* table_;
    bool e4m3_;
    st::Dtype scale_dtype_;
    uint64_t rows_, cols_, grid_cols_;
    ScaleLayout layout_;
};

}  // namespace wfs::fp8

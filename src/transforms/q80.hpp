// llama2.c version-2 Q8_0 quantization (reference/layers.md §4.3), exactly as export.py does it
// on a CPU: per group of GS consecutive elements m = max|x|, s = m / 127 (fp32 division), q =
// round-half-to-even(x / s) (fp32 division); an all-zero group gives q = 0, s = 0. A tensor is
// served as its int8 values followed by its fp32 scales.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/safetensors.hpp"
#include "weightfs/extent.hpp"

namespace wfs::q80 {

// Quantizes `count` groups of `gs` floats.
void quantize(const float* x, size_t count, unsigned gs, int8_t* q, float* s);

// A [rows, cols] tensor stored as BF16, F16 or F32 — a range of a source file, or the output of
// a transform piece (FP8 checkpoints come through their bf16/ form) — optionally un-permuted per
// head from HF's rotate-half order to llama2.c's interleaved RoPE: destination row h·hs + 2i + j
// takes source row h·hs + j·hs/2 + i (hs = rows / heads).
struct TensorSource {
    SourceFilePtr file;
    uint64_t offset = 0;
    PiecePtr piece;  // when set, the tensor's bytes come from here instead of file
    st::Dtype dtype = st::Dtype::F32;
    uint64_t rows = 0, cols = 0;
    unsigned heads = 0;  // 0: no permutation
    uint64_t source_row(uint64_t row) const;
    // Elements [first, first + count) of the stored (unpermuted) tensor, widened exactly to fp32.
    Status read(uint64_t first, uint64_t count, float* out) const;
};

// The tensor as llama2.c stores it: n int8 values, then n / gs fp32 scales.
class Q80Piece final : public Piece {
public:
    Q80Piece(TensorSource src, unsigned gs) : src_(std::move(src)), gs_(gs) {}
    uint64_t size() const { return src_.rows * src_.cols + src_.rows * src_.cols / gs_ * 4; }
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    const SourceFile* source() const override { return src_.file.get(); }

private:
    Status quantize_groups(uint64_t g0, uint64_t g1, std::vector<int8_t>& q, std::vector<float>& s) const;
    TensorSource src_;
    unsigned gs_;
};

// A stored tensor converted to fp32 (the norms).
class F32Piece final : public Piece {
public:
    explicit F32Piece(TensorSource src) : src_(std::move(src)) {}
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    const SourceFile* source() const override { return src_.file.get(); }

private:
    TensorSource src_;
};

}  // namespace wfs::q80

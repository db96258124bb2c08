// MXFP4 → BF16 for gpt-oss checkpoints, with transformers' convert_moe_packed_tensors semantics
// (reference/fp8-bf16.md §4.4): blocks U8 [..., R, G, 16] hold 32 FP4 (E2M1) values per block,
// the low nibble first; scales U8 [..., R, G] are E8M0 exponents (bias 127). Each value is
// fp4 × 2^(scale − 127) in fp32 (exact unless it overflows), rounded to bf16, and the result is
// stored transposed as [..., G·32, R] under the name without "_blocks".
#pragma once

#include "weightfs/extent.hpp"

namespace wfs::mxfp4 {

// Value of an E2M1 code (0..15).
float fp4_value(unsigned code);

class Mxfp4Piece final : public Piece {
public:
    // `lead` = product of the leading dimensions (experts); rows = R, groups = G.
    Mxfp4Piece(SourceFilePtr blocks_file, uint64_t blocks_offset, SourceFilePtr scales_file, uint64_t scales_offset,
               uint64_t lead, uint64_t rows, uint64_t groups);
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    const SourceFile* source() const override { return blocks_.get(); }

private:
    Status produce_elements(uint64_t first, uint64_t count, uint16_t* dst) const;
    SourceFilePtr blocks_, scales_;
    uint64_t blocks_offset_, scales_offset_, lead_, rows_, groups_;
};

}  // namespace wfs::mxfp4

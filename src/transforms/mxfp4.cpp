#include "transforms/mxfp4.hpp"

#include "transforms/elements.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "transforms/fp8.hpp"

namespace wfs::mxfp4 {

float fp4_value(unsigned code) {
    static const float kValues[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                      -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
    return kValues[code & 15];
}

Mxfp4Piece::Mxfp4Piece(SourceFilePtr blocks_file, uint64_t blocks_offset, SourceFilePtr scales_file,
                       uint64_t scales_offset, uint64_t lead, uint64_t rows, uint64_t groups)
    : blocks_(std::move(blocks_file)),
      scales_(std::move(scales_file)),
      blocks_offset_(blocks_offset),
      scales_offset_(scales_offset),
      lead_(lead),
      rows_(rows),
      groups_(groups) {}

// Output element i = ((e * K) + k) * R + r with K = 32·G reads input block (e, r, k / 32).
Status Mxfp4Piece::produce_elements(uint64_t first, uint64_t count, uint16_t* dst) const {
    const uint64_t K = groups_ * 32, per_expert = K * rows_;
    uint64_t i = first;
    const uint64_t end = first + count;
    std::vector<uint8_t> blocks, scales;
    while (i < end) {
        const uint64_t e = i / per_expert;
        const uint64_t stop = std::min(end, (e + 1) * per_expert);
        // The block columns this expert's range needs, for every row r: one contiguous read
        // from (r = 0, g0) to (r = R-1, g1).
        const uint64_t k0 = (i - e * per_expert) / rows_, k1 = (stop - 1 - e * per_expert) / rows_;
        const uint64_t g0 = k0 / 32, g1 = k1 / 32;
        const uint64_t span = (rows_ - 1) * groups_ + (g1 - g0) + 1;  // in blocks
        blocks.resize(span * 16);
        scales.resize(span);
        WFS_TRY(blocks_->read_exact(blocks_offset_ + ((e * rows_) * groups_ + g0) * 16, blocks.size(), blocks.data()));
        WFS_TRY(scales_->read_exact(scales_offset_ + (e * rows_) * groups_ + g0, scales.size(), scales.data()));
        for (; i < stop; ++i) {
            const uint64_t within = i - e * per_expert, k = within / rows_, r = within % rows_;
            const uint64_t b = r * groups_ + (k / 32 - g0);
            const unsigned byte = blocks[b * 16 + (k % 32) / 2];
            const unsigned code = (k % 2) ? byte >> 4 : byte & 15;
            // 2^(s − 127) as an fp32 (a subnormal for s < 1, infinity for s = 255), as torch.ldexp computes it.
            const float pow2 = std::ldexp(1.0f, static_cast<int>(scales[b]) - 127);
            *dst++ = fp8::bf16_rne(fp4_value(code) * pow2);
        }
    }
    return {};
}

Status Mxfp4Piece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    return produce_u16(offset, len, dst, [this](uint64_t first, uint64_t count, uint16_t* out) {
        return produce_elements(first, count, out);
    });
}

}  // namespace wfs::mxfp4

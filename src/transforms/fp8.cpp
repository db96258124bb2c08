#include "transforms/fp8.hpp"

#include "transforms/elements.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace wfs::fp8 {

namespace {

std::array<float, 256> make_e4m3fn() {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b) {
        int s = b >> 7, e = (b >> 3) & 0xF, m = b & 7;
        float v;
        if (e == 15 && m == 7) v = NAN;
        else if (e == 0) v = std::ldexp(static_cast<float>(m) / 8.0f, -6);
        else v = std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
        t[b] = s ? -v : v;
    }
    return t;
}

std::array<float, 256> make_e5m2() {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b) {
        int s = b >> 7, e = (b >> 2) & 0x1F, m = b & 3;
        float v;
        if (e == 31) v = m == 0 ? INFINITY : NAN;
        else if (e == 0) v = std::ldexp(static_cast<float>(m) / 4.0f, -14);
        else v = std::ldexp(1.0f + static_cast<float>(m) / 4.0f, e - 15);
        t[b] = s ? -v : v;
    }
    return t;
}

const std::array<float, 256> kE4M3 = make_e4m3fn();
const std::array<float, 256> kE5M2 = make_e5m2();

float half_to_float(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = std::ldexp(static_cast<float>(m), -24);
    else v = std::ldexp(static_cast<float>(m + 1024), e - 25);
    return s ? -v : v;
}

}  // namespace

const float* decode_table(st::Dtype dtype) { return dtype == st::Dtype::F8_E5M2 ? kE5M2.data() : kE4M3.data(); }

float scale_to_f32(st::Dtype dtype, const uint8_t* p) {
    if (dtype == st::Dtype::F32) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, p, 2);
    if (dtype == st::Dtype::BF16) {
        uint32_t u = static_cast<uint32_t>(h) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    return half_to_float(h);
}

void dequant_run(const uint8_t* src, size_t count, const float* table, float scale, uint16_t* dst) {
    for (size_t i = 0; i < count; ++i) dst[i] = bf16_rne(table[src[i]] * scale);
}

DequantPiece::DequantPiece(SourceFilePtr weight_file, uint64_t weight_offset, st::Dtype weight_dtype,
                           SourceFilePtr scale_file, uint64_t scale_offset, st::Dtype scale_dtype, uint64_t rows,
                           uint64_t cols, ScaleLayout layout)
    : weight_(std::move(weight_file)),
      scale_(std::move(scale_file)),
      weight_offset_(weight_offset),
      scale_offset_(scale_offset),
      table_(decode_table(weight_dtype)),
      e4m3_(weight_dtype == st::Dtype::F8_E4M3),
      scale_dtype_(scale_dtype),
      rows_(rows),
      cols_(cols),
      grid_cols_(layout == ScaleLayout::Block128 ? (cols + kBlock - 1) / kBlock : 1),
      layout_(layout) {}

Status DequantPiece::produce_elements(uint64_t first, uint64_t count, uint16_t* dst) const {
    if (count == 0) return {};
    std::vector<uint8_t> src(count);
    WFS_TRY(weight_->read_exact(weight_offset_ + first, count, src.data()));
    // The scale rows this range touches, widened to fp32. A "scale row" is a row of 128×128
    // blocks, one weight row (per-channel), or the single value (per-tensor).
    const uint64_t r0 = first / cols_, r1 = (first + count - 1) / cols_;
    const uint64_t rows_per_scale = layout_ == ScaleLayout::Block128 ? kBlock : layout_ == ScaleLayout::PerRow ? 1 : rows_;
    const uint64_t g0 = r0 / rows_per_scale, g1 = r1 / rows_per_scale;
    const size_t esize = scale_dtype_ == st::Dtype::F32 ? 4 : 2;
    std::vector<uint8_t> raw((g1 - g0 + 1) * grid_cols_ * esize);
    WFS_TRY(scale_->read_exact(scale_offset_ + g0 * grid_cols_ * esize, raw.size(), raw.data()));
    std::vector<float> scales(raw.size() / esize);
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = scale_to_f32(scale_dtype_, raw.data() + i * esize);

    uint64_t i = first, end = first + count;
    const uint8_t* s = src.data();
    std::vector<Run> runs;  // E4M3: collected and converted in one call
    while (i < end) {
        uint64_t r = i / cols_, c = i % cols_;
        const bool blocks = layout_ == ScaleLayout::Block128;
        uint64_t block_end = std::min({end - i, blocks ? kBlock - c % kBlock : cols_ - c, cols_ - c, uint64_t{1} << 30});  // one scale
        const float scale = scales[(r / rows_per_scale - g0) * grid_cols_ + (blocks ? c / kBlock : 0)];
        if (e4m3_) {
            runs.push_back({static_cast<uint32_t>(block_end), scale});
        } else {
            dequant_run(s, block_end, table_, scale, dst);
            dst += block_end;
        }
        s += block_end;
        i += block_end;
    }
    if (e4m3_) dequant_runs_e4m3(src.data(), runs.data(), runs.size(), dst);
    return {};
}

Status DequantPiece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    return produce_u16(offset, len, dst, [this](uint64_t first, uint64_t count, uint16_t* out) {
        return produce_elements(first, count, out);
    });
}

}  // namespace wfs::fp8

#include "transforms/q80.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "transforms/fp8.hpp"

namespace wfs::q80 {

void quantize(const float* x, size_t count, unsigned gs, int8_t* q, float* s) {
    for (size_t g = 0; g < count; ++g) {
        const float* v = x + g * gs;
        float m = 0.0f;
        for (unsigned i = 0; i < gs; ++i) m = std::max(m, std::fabs(v[i]));
        const float scale = m / 127.0f;
        s[g] = scale;
        for (unsigned i = 0; i < gs; ++i)
            q[g * gs + i] = scale == 0.0f ? 0 : static_cast<int8_t>(std::nearbyint(v[i] / scale));
    }
}

Status TensorSource::read(uint64_t first, uint64_t count, float* out) const {
    const unsigned es = dtype == st::Dtype::F32 ? 4 : 2;
    std::vector<uint8_t> raw(count * es);
    if (piece) WFS_TRY(piece->produce(first * es, raw.size(), raw.data()));
    else WFS_TRY(file->read_exact(offset + first * es, raw.size(), raw.data()));
    if (dtype == st::Dtype::F32) {
        std::memcpy(out, raw.data(), raw.size());
        return {};
    }
    for (uint64_t i = 0; i < count; ++i) out[i] = fp8::scale_to_f32(dtype, raw.data() + i * 2);  // exact widening
    return {};
}

uint64_t TensorSource::source_row(uint64_t row) const {
    if (heads == 0) return row;
    const uint64_t hs = rows / heads, h = row / hs, r = row % hs, i = r / 2, j = r % 2;
    return h * hs + j * (hs / 2) + i;
}

Status Q80Piece::quantize_groups(uint64_t g0, uint64_t g1, std::vector<int8_t>& q, std::vector<float>& s) const {
    const uint64_t first = g0 * gs_, count = (g1 - g0) * gs_;
    std::vector<float> x(count);
    if (src_.heads == 0) {
        WFS_TRY(src_.read(first, count, x.data()));
    } else {
        // Permuted rows: groups never straddle rows (cols % gs == 0), so read row by row.
        for (uint64_t e = first; e < first + count;) {
            const uint64_t row = e / src_.cols, col = e % src_.cols;
            const uint64_t n = std::min(src_.cols - col, first + count - e);
            WFS_TRY(src_.read(src_.source_row(row) * src_.cols + col, n, x.data() + (e - first)));
            e += n;
        }
    }
    q.resize(count);
    s.resize(g1 - g0);
    quantize(x.data(), g1 - g0, gs_, q.data(), s.data());
    return {};
}

Status Q80Piece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    const uint64_t n = src_.rows * src_.cols;
    std::vector<int8_t> q;
    std::vector<float> s;
    while (len > 0) {
        if (offset < n) {  // int8 values
            const uint64_t end = std::min<uint64_t>(n, offset + len);
            const uint64_t g0 = offset / gs_, g1 = (end + gs_ - 1) / gs_;
            WFS_TRY(quantize_groups(g0, g1, q, s));
            std::memcpy(dst, q.data() + (offset - g0 * gs_), end - offset);
            dst += end - offset;
            len -= static_cast<size_t>(end - offset);
            offset = end;
        } else {  // fp32 scales
            const uint64_t within = offset - n, end = within + len;
            const uint64_t g0 = within / 4, g1 = (end + 3) / 4;
            WFS_TRY(quantize_groups(g0, g1, q, s));
            std::memcpy(dst, reinterpret_cast<const uint8_t*>(s.data()) + (within - g0 * 4), len);
            return {};
        }
    }
    return {};
}

Status F32Piece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    const uint64_t first = offset / 4, last = (offset + len + 3) / 4;
    std::vector<float> v(last - first);
    WFS_TRY(src_.read(first, last - first, v.data()));
    std::memcpy(dst, reinterpret_cast<const uint8_t*>(v.data()) + offset % 4, len);
    return {};
}

}  // namespace wfs::q80

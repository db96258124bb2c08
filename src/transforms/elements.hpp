// Pieces whose output is a stream of 16-bit elements (BF16) produce whole elements; a byte range
// that starts or ends inside one is produced through a temporary.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "weightfs/result.hpp"

namespace wfs {

// Elements per produce_elements call: the source bytes of a batch stay in L2 while they are
// converted, and no call holds more than a batch of scratch memory whatever the chunk size
// (whole chunks at once left every filling thread's heap holding megabytes).
inline constexpr uint64_t kBatchElements = 128 << 10;

// Calls produce_elements(first, count, uint16_t* dst) for the elements covering [offset, offset+len),
// batch by batch: straight into dst when the range is whole elements, else through a temporary
// of one batch.
template <class F>
Status produce_u16(uint64_t offset, size_t len, uint8_t* dst, F&& produce_elements) {
    const uint64_t first = offset / 2, last = (offset + len + 1) / 2;
    const bool whole = offset % 2 == 0 && len % 2 == 0;
    std::vector<uint16_t> tmp;
    for (uint64_t at = first; at < last;) {
        const uint64_t n = std::min(kBatchElements, last - at);
        if (whole) {
            WFS_TRY(produce_elements(at, n, reinterpret_cast<uint16_t*>(dst) + (at - first)));
        } else {
            tmp.resize(n);
            WFS_TRY(produce_elements(at, n, tmp.data()));
            const uint64_t from = std::max<uint64_t>(offset, at * 2), to = std::min<uint64_t>(offset + len, (at + n) * 2);
            std::memcpy(dst + (from - offset), reinterpret_cast<const uint8_t*>(tmp.data()) + (from - at * 2), to - from);
        }
        at += n;
    }
    return {};
}

}  // namespace wfs

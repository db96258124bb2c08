// Pieces whose output is a stream of 16-bit elements (BF16) produce whole elements; a byte range
// that starts or ends inside one is produced through a small temporary.
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

// Calls produce_elements(first, count, uint16_t* dst) for the elements covering [offset, offset+len).
template <class F>
Status produce_u16(uint64_t offset, size_t len, uint8_t* dst, F&& produce_elements) {
    const uint64_t first = offset / 2, last = (offset + len + 1) / 2;
    if (offset % 2 == 0 && len % 2 == 0) {
        auto* out = reinterpret_cast<uint16_t*>(dst);
        for (uint64_t at = first; at < last;) {
            const uint64_t n = std::min(kBatchElements, last - at);
            WFS_TRY(produce_elements(at, n, out + (at - first)));
            at += n;
        }
        return {};
    }
    std::vector<uint16_t> tmp(last - first);
    WFS_TRY(produce_elements(first, last - first, tmp.data()));
    std::memcpy(dst, reinterpret_cast<const uint8_t*>(tmp.data()) + offset % 2, len);
    return {};
}

}  // namespace wfs

// Counters shared by the cache, the read path and the status file. Relaxed atomics: they are
// reported, never used to make decisions.
#pragma once

#include <atomic>
#include <cstdint>

namespace wfs {

struct Stats {
    std::atomic<uint64_t> hits{0}, misses{0}, waits{0};  // chunk lookups: ready / filled here / waited on a fill
    std::atomic<uint64_t> fills{0}, fill_bytes{0}, fill_ns{0}, fill_errors{0};
    std::atomic<uint64_t> evictions{0};
    std::atomic<uint64_t> read_requests{0}, read_bytes{0}, read_errors{0};
    std::atomic<uint64_t> mapped_reads{0};  // replies pointing at the sources' own pages (Verbatim::Mapped)
    std::atomic<uint64_t> narrow_reads{0};  // served outside the cache after a chunk fill failed
    std::atomic<uint64_t> prefetches{0};
    std::atomic<uint64_t> preload_total{0}, preload_done{0};
    std::atomic<uint64_t> ahead{0};  // shards materialized ahead of their open
};

}  // namespace wfs

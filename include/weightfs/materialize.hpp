// Materialize: produce a whole view file into memory that a consumer will read directly (a
// backing tmpfs file for passthrough, a hugetlbfs file for serve=hugetlb), in 2 MiB pieces
// spread over the worker pool and the calling thread.
#pragma once

#include <cstdint>

#include "weightfs/result.hpp"
#include "weightfs/virtual_file.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

// Writes every byte of `file` to base[0, file.size()); `threads` counts the caller.
Status materialize(const VirtualFile& file, uint8_t* base, WorkerPool& pool, unsigned threads);

}  // namespace wfs

// Materialize: produce a whole view file into memory that a consumer will read directly (a
// backing tmpfs file for passthrough, a hugetlbfs file for serve=hugetlb), in 2 MiB pieces
// spread over the worker pool and the calling thread.
#pragma once

#include <cstdint>
#include <functional>

#include "weightfs/result.hpp"
#include "weightfs/virtual_file.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

// Called with the byte count of each piece as it is finished (from any of the threads); false
// stops the work (the result is then ECANCELED).
using Progress = std::function<bool(uint64_t bytes)>;

// Whether a store making a new file may evict idle ones for the room (preload may not: the
// files it made first are as wanted as the ones after them).
enum class Eviction { Allowed, Never };

// Called on each piece's range [offset, offset+len) of the destination before it is written (by
// the thread that writes it): where a store allocates the memory, so that work is spread over the
// threads too. An error stops the work and is the result.
using Prepare = std::function<Status(uint64_t offset, uint64_t len)>;

// Writes every byte of `file` to base[0, file.size()); `threads` counts the caller. The caller
// may itself be a pool worker (preload): helpers that start after the pieces ran out return
// without touching anything, so it never waits on a queued task.
Status materialize(const VirtualFile& file, uint8_t* base, WorkerPool& pool, unsigned threads,
                   const Progress& progress = {}, const Prepare& prepare = {});

}  // namespace wfs

// HugetlbStore: serve=hugetlb — view files materialized into a hugetlbfs mount the daemon owns,
// and shown in the view as symlinks to them (hugecp done on demand). A consumer that opens the
// view path lands on a hugetlbfs file: true 2 MiB (or 1 GiB) pages for its mmap, read() at
// hugetlbfs speed, no FUSE round trip — and it works with any libfuse.
//
// hugetlbfs cannot back a passthrough file (the kernel answers ELOOP), and a symlink target
// must be a path the consumer can resolve, so this mount is attached: DIR/hugetlb.<pid>. It is
// unmounted at exit; one left behind by a killed daemon is removed by the next start.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "weightfs/materialize.hpp"
#include "weightfs/result.hpp"
#include "weightfs/virtual_file.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

class HugetlbStore {
public:
    // Mounts hugetlbfs (page size `page_size`, at most `budget` bytes) under `dir`.
    static Result<std::unique_ptr<HugetlbStore>> create(const std::string& dir, uint64_t budget, uint64_t page_size);
    ~HugetlbStore();

    // The absolute path of the materialized file (filled on first use).
    Result<std::string> file(const VirtualFile& file, WorkerPool& pool, unsigned threads, const Progress& progress = {});
    // Whether a file of this size is ever served from here (else it stays a lazy file).
    bool fits(uint64_t size) const { return size > 0 && round_up(size) <= budget_; }
    // The path a file will have (known before it is materialized; symlink sizes use it).
    std::string path_for(const VirtualFile& file) const;

    const std::string& mount_path() const { return path_; }
    uint64_t budget() const { return budget_; }
    uint64_t page_size() const { return page_; }
    uint64_t used();
    size_t files();

private:
    HugetlbStore() = default;
    uint64_t round_up(uint64_t n) const { return (n + page_ - 1) / page_ * page_; }
    struct Entry {
        std::once_flag once;
        Error error;
        bool ok = false;
    };
    Status fill(const VirtualFile& file, const std::string& path, WorkerPool& pool, unsigned threads,
                const Progress& progress);

    std::string path_;
    uint64_t budget_ = 0, page_ = 2ull << 20;
    std::mutex mu_;  // guards entries_ and used_ (leaf lock)
    std::map<uint64_t, std::shared_ptr<Entry>> entries_;
    uint64_t used_ = 0;
};

// Unmounts and removes DIR/hugetlb.<pid> mounts whose daemon is gone (after a kill -9).
void remove_stale_hugetlb_mounts(const std::string& dir);

}  // namespace wfs

// HugetlbStore: serve=hugetlb — view files materialized into a hugetlbfs mount the daemon owns,
// and shown in the view as symlinks to them (hugecp done on demand). A consumer that opens the
// view path lands on a hugetlbfs file: true 2 MiB (or 1 GiB) pages for its mmap, read() at
// hugetlbfs speed, no FUSE round trip — and it works with any libfuse.
//
// hugetlbfs cannot back a passthrough file (the kernel answers ELOOP), and a symlink target
// must be a path the consumer can resolve, so this mount is attached: DIR/hugetlb.<pid>. It is
// unmounted at exit; one left behind by a killed daemon is removed by the next start.
//
// The budget is recycled: when a new file needs room, files resolved least recently are
// unlinked (a consumer that has one open or mapped keeps it; its pages go back when it lets go).
// The daemon never sees a symlink's consumer close, so a file resolved in the last second — its
// consumer may be about to open the path — is not evicted: a new file waits for it to age.
#pragma once

#include <cstdint>
#include <chrono>
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

    // The absolute path of the materialized file (filled on first use; files resolved least
    // recently evicted to make room).
    Result<std::string> file(const VirtualFile& file, WorkerPool& pool, unsigned threads, const Progress& progress = {},
                     Eviction eviction = Eviction::Allowed);
    // Whether a file of this size is ever served from here (else it stays a lazy file).
    bool fits(uint64_t size) const { return fits(size, budget_, page_); }
    // `budget` need not be whole pages: a file's pages fit it exactly when they fit its whole pages.
    static bool fits(uint64_t size, uint64_t budget, uint64_t page) {
        return size > 0 && size <= budget && (size + page - 1) / page * page <= budget;
    }
    // The path a file will have (known before it is materialized; symlink sizes use it).
    std::string path_for(const VirtualFile& file) const;

    const std::string& mount_path() const { return path_; }
    uint64_t budget() const { return budget_; }
    uint64_t page_size() const { return page_; }
    uint64_t used();
    size_t files();
    bool holds(uint64_t id);  // materialized and not evicted
    // holds(), and if so counts the file as resolved now (its path handed out: its grace starts).
    bool touch(uint64_t id);
    uint64_t evictions();

private:
    HugetlbStore() = default;
    uint64_t round_up(uint64_t n) const { return (n + page_ - 1) / page_ * page_; }
    using Clock = std::chrono::steady_clock;
    static constexpr Clock::duration kGrace = std::chrono::seconds(1);
    struct Entry {
        std::once_flag once;
        Error error;
        bool ok = false;
        uint64_t footprint = 0;
        unsigned callers = 0;      // inside file() for it: not evicted meanwhile
        Clock::time_point resolved;  // last handed out
    };
    // With mu_ held: evicts idle files, least recently resolved first, until `need` more bytes
    // fit; 0 when it fits, else how long until a file in its grace may go (max(): never).
    Clock::duration make_room(uint64_t need);
    Status fill(const VirtualFile& file, const std::string& path, WorkerPool& pool, unsigned threads,
                const Progress& progress);

    std::string path_;
    uint64_t budget_ = 0, page_ = 2ull << 20;
    std::mutex mu_;  // guards entries_ and used_ (leaf lock)
    std::map<uint64_t, std::shared_ptr<Entry>> entries_;
    uint64_t used_ = 0, evictions_ = 0;
};

// Unmounts and removes DIR/hugetlb.<pid> mounts whose daemon is gone (after a kill -9).
void remove_stale_hugetlb_mounts(const std::string& dir);

}  // namespace wfs

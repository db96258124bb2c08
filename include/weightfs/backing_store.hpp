// BackingStore: whole view files materialized into a private tmpfs mounted huge=always, for FUSE
// passthrough (reference/fuse-perf.md §0): the consumer's reads and mmaps then go straight to
// these files, on 2 MiB pages, with one copy in memory and no daemon round trips.
//
// The tmpfs is a detached mount made with fsopen()/fsmount(): it is attached to no mount
// namespace, so nothing can see it, and it lives exactly as long as this process holds its fd —
// even a killed daemon cannot leak it. Files are filled once, in parallel, through a shared
// mapping (one copy from the transforms into the page cache that consumers map).
//
// The budget is recycled: a file nobody holds (no open passthrough handle) is evicted, least
// recently used first, when a new one needs its room — so a loader streaming the shards of a
// model larger than the budget gets every shard materialized, not just the first few.
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

class BackingStore {
public:
    static Result<std::unique_ptr<BackingStore>> create(uint64_t budget);
    ~BackingStore();

    // An O_RDONLY fd of the materialized file (filled on first use; owned by the store), held:
    // the file is not evicted until release(file.id()) has been called once for every success.
    Result<int> file(const VirtualFile& file, WorkerPool& pool, unsigned threads, const Progress& progress = {},
                     Eviction eviction = Eviction::Allowed);
    void release(uint64_t id);

    uint64_t budget() const { return budget_; }
    uint64_t used();
    size_t files();
    bool holds(uint64_t id);  // materialized and not evicted
    uint64_t huge();          // bytes of the files held that are on 2 MiB pages
    // What keeps this process's tmpfs files off 2 MiB pages whatever the memory (a system-wide
    // setting, or THP disabled for the process), or "" when nothing does.
    static std::string huge_page_obstacle();
    uint64_t evictions();

private:
    BackingStore() = default;
    struct Entry {
        std::once_flag once;
        int fd = -1;
        Error error;
        bool ok = false;
        uint64_t footprint = 0;  // what it counts against the budget
        unsigned holders = 0;    // file() successes (and fills under way) not yet released
        uint64_t last_use = 0;   // tick of its last release: the eviction order
        uint64_t huge = 0;       // bytes of it on 2 MiB pages
    };
    // Allocates the file's pages (2 MiB ones, compacting memory for them) and fills them; `huge`
    // is set to how much of it is on 2 MiB pages.
    Status fill(const VirtualFile& file, int fd, WorkerPool& pool, unsigned threads, const Progress& progress,
                uint64_t& huge);
    // With mu_ held: evicts files nobody holds, least recently used first, until `need` more
    // bytes fit; evicts nothing when even all of them would not make the room.
    bool make_room(uint64_t need);
    void remove(uint64_t id, Entry& e);  // with mu_ held

    int mount_fd_ = -1;
    uint64_t budget_ = 0;
    std::mutex mu_;  // guards entries_, used_ and huge_ (leaf lock)
    std::map<uint64_t, std::shared_ptr<Entry>> entries_;
    uint64_t used_ = 0, huge_ = 0;
    uint64_t tick_ = 0, evictions_ = 0;
};

}  // namespace wfs

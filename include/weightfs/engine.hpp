// Engine: the whole FUSE-free filesystem — the tree the views built, the chunk cache in its
// arena, the worker pool, and the read path with sequential prefetch. The FUSE adapter is a thin
// layer over this; the unit tests drive it directly.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "weightfs/arena.hpp"
#include "weightfs/backing_store.hpp"
#include "weightfs/catalog.hpp"
#include "weightfs/chunk_cache.hpp"
#include "weightfs/hugetlb_store.hpp"
#include "weightfs/stats.hpp"
#include "weightfs/view.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

// How bytes reach the consumer: lazily from the chunk cache, through FUSE passthrough to a
// file materialized in a huge-page tmpfs (auto: passthrough when possible and the file fits),
// or as a symlink to a file materialized in a hugetlbfs mount the daemon owns.
enum class Serve { Lazy, Auto, Passthrough, Hugetlb };

// How byte ranges a view copies unchanged from a source (all of concat/ and layers/, the
// untouched tensors of the others) reach the kernel: Mapped points the reply at the source's
// own pages (no copy into the cache; best when the kernel page cache holds what was read),
// Cached goes through the chunk cache like produced bytes (best with direct_io, where the
// cache is what makes a second read hot). Auto: Mapped unless the mount is direct_io.
enum class Verbatim { Auto, Mapped, Cached };

struct EngineConfig {
    std::string source;
    ArenaConfig arena;
    uint64_t chunk_size = 2ull << 20;
    unsigned threads = 0;        // worker threads; 0 = one per core
    unsigned fuse_threads = 0;   // FUSE loop threads, to size the minimum cache
    unsigned prefetch = 8;       // most chunks ahead of a sequential reader (the window grows to it)
    std::string preload;         // glob of mount paths to warm at start
    ViewOptions views;
    Serve serve = Serve::Lazy;
    Verbatim verbatim = Verbatim::Auto;  // resolved by the daemon; the engine takes Auto as Mapped
    std::string hugetlb_dir = "/run/weightfs";  // serve=hugetlb mounts hugetlbfs at DIR/hugetlb.<pid>
};

// One open virtual file: remembers where the reader was, to detect sequential access.
struct OpenFile {
    uint64_t ino = 0;
    VirtualFilePtr file;
    std::atomic<uint64_t> next_offset{0};
    std::atomic<uint64_t> prefetched_to{0};  // chunk index prefetch has been queued up to
    // Prefetch depth for this reader: starts small and doubles (up to prefetch=) each time a
    // sequential read finds its chunk not ready — the reader outran the fills — so a slow
    // consumer does not flood the cache and a fast one gets the whole pool working ahead of it.
    std::atomic<unsigned> window{0};
    std::atomic<bool> read_once{false};      // its first read warms the file a loader reads next
    std::string served = "lazy";             // how this open is served, for status
};

// The memory behind one read reply: iov points into pinned cache chunks (alive until this is
// destroyed), into `owned` for a part produced outside the cache, or — for a range the file
// copies unchanged — into headers and the `mapped` sources' own pages (see Engine::read).
struct ReadReply {
    std::vector<ChunkCache::Pin> pins;
    std::vector<std::unique_ptr<uint8_t[]>> owned;
    std::vector<const SourceFile*> mapped;
    std::vector<iovec> iov;
    // For after_reply(), which runs once the kernel has the bytes — when the reader may already
    // have closed the file (its OpenFile freed by a RELEASE on another thread): what it needs is
    // held here, the file kept alive by this reference.
    VirtualFilePtr file;
    uint64_t ino = 0, offset = 0;
};

class Engine {
public:
    // Scans SOURCE and builds the views (cheap: headers only). No memory is reserved yet.
    static Result<std::unique_ptr<Engine>> create(const EngineConfig& config);
    // Reserves the arena and starts the workers (after daemonizing: forking loses both).
    Status start();
    ~Engine();

    const VirtualTree& tree() const { return tree_; }
    const std::string& models_text() const { return models_text_; }
    std::string status_text();

    std::unique_ptr<OpenFile> open(uint64_t ino);
    // EIO (logged) when a source of the file changed since the scan: refused at open, before
    // a consumer can map it.
    Status check_sources(uint64_t ino);
    void close(OpenFile& f);
    // What a passthrough open hands the kernel: the file materialized in the huge-page tmpfs
    // (filled on first use); or, for a file that is one whole source file unchanged and does
    // not fit the backing budget, the source file itself (no copy, no memory, the source
    // filesystem's own read speed; not for an O_DIRECT open); or why neither.
    struct Backing {
        int fd = -1;
        std::string how;     // for status
        bool held = false;   // a backing tmpfs file: release_backing() when the kernel lets go of it
    };
    Result<Backing> backing_for(OpenFile& f, bool o_direct = false);
    // The kernel closed the passthrough backing of this file: its tmpfs file may be evicted
    // (least recently used first) when another file needs the room.
    void release_backing(const VirtualFile& f);
    bool passthrough_wanted() const { return config_.serve == Serve::Auto || config_.serve == Serve::Passthrough; }
    void set_served(OpenFile& f, std::string how);
    // serve=hugetlb: whether this node is shown as a symlink into hugetlbfs, and its target,
    // materialized on first call. When the pool cannot hold it now (used up by files consumers
    // still hold, or reserved too small) the target is the file's alias under .weightfs/lazy/,
    // served lazily, and the next resolution tries the pool again. Link::AsIs (the path is
    // stat'ed, or the link's text read — `ls -l`) materializes nothing: the hugetlbfs file if it
    // is there, else the alias, which has the same size and bytes. Link::Lazy: the alias (for an
    // O_DIRECT open, which hugetlbfs refuses).
    bool symlinked(const Node& n) const {
        return hugetlb_ && n.kind == NodeKind::File && !tree_.is_alias(n.ino) && hugetlb_->fits(n.file->size());
    }
    size_t symlink_size(const Node& n);  // the length of the target a stat would get now
    enum class Link { Materialize, AsIs, Lazy };
    Result<std::string> symlink_target(uint64_t ino, Link how = Link::Materialize);

    // Serves [offset, offset+len) clipped to the file's size; an error maps to an errno.
    Result<ReadReply> read(OpenFile& f, uint64_t offset, size_t len);
    // After a reply from read() went to the kernel with result `sent` (0, or the -errno of the
    // send); needs nothing but the reply (the OpenFile may be gone by then). A reply pointing at mapped source pages is only read by the kernel during the send:
    // a page that could not be read fails it (EFAULT, the reader gets EIO), which is logged here
    // with the source offset; a source that changed while the kernel copied it turns stale, and
    // true is returned — the kernel's cached pages of this file must be dropped, since they may
    // hold a mix of the two versions.
    bool after_reply(const ReadReply& reply, int sent);

    Stats& stats() { return stats_; }
    ChunkCache& cache() { return *cache_; }
    const EngineConfig& config() const { return config_; }
    const Arena& arena() const { return *arena_; }
    // Warms the files preload= names, in the background: those that will be served from
    // materialized memory (passthrough, which the kernel must have accepted; hugetlbfs) are
    // materialized, so their first open is immediate; the rest fill the chunk cache. Called once
    // the FUSE connection is set up.
    void preload(bool passthrough);

private:
    explicit Engine(EngineConfig c) : config_(std::move(c)) {}
    void prefetch_after(OpenFile& f, uint64_t chunk);
    // After a shard of a checkpoint is materialized for its consumer, the next shard is
    // materialized in the background while the consumer reads this one (loaders open shards
    // in order): its open then finds it ready, or waits only for the rest.
    void materialize_ahead(uint64_t ino);
    // Runs work(next's file) on the pool unless a job for `next` is under way (the one
    // bookkeeping of both kinds of ahead work: ahead_, the count in status).
    void run_ahead(const Node& next, std::function<void(const VirtualFile&)> work);
    // Served lazily: the first read of a file fills the cache with the start of the file a
    // loader reads after it (a quarter of the cache at most; ranges copied unchanged are read
    // ahead in the source instead), on one worker, while the consumer works on this one.
    void warm_ahead(uint64_t ino);
    // true: materialized (or to be passed through to its source); false: warm its chunks.
    Result<bool> preload_materialized(const std::string& path, const VirtualFile& file, bool passthrough);
    // A materialization in status while it runs ("materializing: …"), logged if it took long.
    class Tracked;
    // serve=hugetlb: the hugetlbfs file if it is made (counted as resolved now when `resolved`),
    // else the lazy alias.
    std::string target_as_is(const Node& n, bool resolved);
    void preload_chunks(const std::string& path, const VirtualFile& file);
    void log_read_error(const std::string& path, const Error& e);
    void log_warning(const std::string& path, const std::string& message);
    bool log_due(const std::string& path);  // at most one line per path and second
    // Counts a read that fails with EIO to the reader, and logs it (rate-limited).
    void read_failed(uint64_t ino, const Error& e);
    // Where every reader's prefetch window starts, and returns to after a seek.
    unsigned initial_window() const { return std::min(2u, config_.prefetch); }

    EngineConfig config_;
    Catalog catalog_;
    VirtualTree tree_;
    ViewReport report_;
    std::string models_text_;
    std::unique_ptr<Arena> arena_;
    std::unique_ptr<ChunkCache> cache_;
    std::unique_ptr<WorkerPool> pool_;
    std::unique_ptr<BackingStore> store_;
    std::unique_ptr<HugetlbStore> hugetlb_;
    Stats stats_;
    std::atomic<bool> stopping_{false};  // set at exit: background preload stops early
    std::chrono::steady_clock::time_point started_;

    std::mutex open_mu_;  // guards open_counts_ (leaf lock: nothing else is taken under it)
    std::map<uint64_t, unsigned> open_counts_;
    std::map<uint64_t, std::string> served_;  // ino → how its latest open is served
    struct Resolution {
        std::string target;    // the hugetlbfs file, or the lazy alias
        std::string lazy_why;  // why the alias ("" for the hugetlbfs file)
    };
    std::map<uint64_t, Resolution> symlinks_;  // ino → what an open through it resolved to last
    std::set<uint64_t> ahead_;                  // files being made or warmed ahead (one job each at a time)
    struct Making {  // one materialization under way
        std::string path;
        const char* why = "";
        uint64_t total = 0;
        std::chrono::steady_clock::time_point start;
        std::atomic<uint64_t> done{0};
    };
    std::map<uint64_t, std::shared_ptr<Making>> making_;  // by a sequence number (one file may be made twice after an eviction)
    uint64_t making_seq_ = 0;
    std::mutex log_mu_;   // guards last_log_ (leaf lock)
    std::map<std::string, std::chrono::steady_clock::time_point> last_log_;
};

// Parses "8G", "512M", "1048576", "2MiB" into bytes.
Result<uint64_t> parse_size(const std::string& text);
std::string format_bytes(uint64_t bytes);

}  // namespace wfs

#include "weightfs/engine.hpp"

#include <fnmatch.h>
#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

namespace wfs {

namespace {
// Most pieces one mapped reply may point at (writev takes up to 1024).
constexpr size_t kMaxMappedIov = 256;
}  // namespace

Result<uint64_t> parse_size(const std::string& text) {
    size_t pos = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == 0 || pos > 19) return make_error(EINVAL, "'" + text + "' is not a size (e.g. 512M, 8G)");
    uint64_t n = std::stoull(text.substr(0, pos));
    std::string unit = text.substr(pos);
    if (unit.size() == 3 && unit.compare(1, 2, "iB") == 0) unit.resize(1);
    else if (unit.size() == 2 && (unit[1] == 'B' || unit[1] == 'b')) unit.resize(1);
    uint64_t mult = 1;
    if (unit.empty() || unit == "B" || unit == "b") mult = 1;
    else if (unit == "K" || unit == "k") mult = 1ull << 10;
    else if (unit == "M" || unit == "m") mult = 1ull << 20;
    else if (unit == "G" || unit == "g") mult = 1ull << 30;
    else if (unit == "T" || unit == "t") mult = 1ull << 40;
    else return make_error(EINVAL, "'" + text + "': unknown size unit '" + unit + "' (use K, M, G or T)");
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(n, mult, &bytes)) return make_error(EINVAL, "'" + text + "' is too large");
    return bytes;
}

std::string format_bytes(uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config) {
    std::unique_ptr<Engine> e(new Engine(config));
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto cat = Catalog::scan(config.source);
    if (!cat) return cat.error();
    e->catalog_ = std::move(cat).value();
    const auto t1 = clock::now();
    e->tree_ = build_tree(e->catalog_, config.views, e->report_);
    e->models_text_ = render_models(e->catalog_, e->report_);
    e->catalog_.release_headers();
    malloc_trim(0);  // the scan's transient buffers (JSON texts, parse trees) go back to the system
    auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    spdlog::info("catalog scanned in {} ms, views built in {} ms ({} entries)", ms(t1 - t0), ms(clock::now() - t1),
                 e->tree_.size());
    for (const auto& p : e->catalog_.problems) spdlog::warn("skipped {} at offset {}: {}", p.file, p.offset, p.reason);
    for (const auto& p : e->report_.problems)
        spdlog::warn("{}/: skipped {} at offset {}: {}", p.where, p.file, p.offset, p.reason);
    if (config.serve == Serve::Hugetlb)
        e->tree_.add_aliases(".weightfs/lazy", [&](const VirtualFile& f) {
            return HugetlbStore::fits(f.size(), config.arena.bytes, config.arena.hugepage_size);
        });
    if (e->config_.threads == 0) e->config_.threads = std::max(1u, std::thread::hardware_concurrency());
    if (e->config_.fuse_threads == 0) e->config_.fuse_threads = 10;
    return e;
}

Status Engine::start() {
    // Every FUSE thread and worker can pin two chunks at once (a read spanning a chunk edge);
    // a smaller cache could leave all of them waiting for a free slot.
    uint64_t min_chunks = 2ull * (config_.fuse_threads + config_.threads) + 4;
    ArenaConfig ac = config_.arena;
    ac.pool_for_files = config_.serve == Serve::Hugetlb;
    if (ac.bytes < min_chunks * config_.chunk_size) {
        spdlog::warn("cache={} is below the minimum for {} threads; using {}", format_bytes(ac.bytes),
                     config_.fuse_threads + config_.threads, format_bytes(min_chunks * config_.chunk_size));
        ac.bytes = min_chunks * config_.chunk_size;
    }
    auto arena = Arena::create(ac);
    if (!arena) return arena.error();
    arena_ = std::move(arena).value();
    cache_ = std::make_unique<ChunkCache>(arena_->base(), arena_->size(), config_.chunk_size, stats_);
    // Prefetch never asks for more than a quarter of the cache, so it cannot evict what is being read.
    config_.prefetch = static_cast<unsigned>(std::min<uint64_t>(config_.prefetch, cache_->slots() / 4));
    pool_ = std::make_unique<WorkerPool>(config_.threads);
    if (config_.serve == Serve::Auto || config_.serve == Serve::Passthrough) {
        auto store = BackingStore::create(config_.arena.bytes);
        if (store) {
            store_ = std::move(store).value();
        } else if (config_.serve == Serve::Passthrough) {
            return make_error(store.error().code, "serve=passthrough: " + store.error().message);
        } else {
            spdlog::warn("serve=auto: no backing tmpfs ({}); serving lazily", store.error().message);
        }
    }
    if (config_.serve == Serve::Hugetlb) {
        auto store = HugetlbStore::create(config_.hugetlb_dir, config_.arena.bytes, config_.arena.hugepage_size);
        if (!store) return make_error(store.error().code, "serve=hugetlb: " + store.error().message);
        hugetlb_ = std::move(store).value();
        spdlog::info("serve=hugetlb: files up to {} are symlinks into {}", format_bytes(hugetlb_->budget()),
                     hugetlb_->mount_path());
    }
    started_ = std::chrono::steady_clock::now();
    spdlog::info("cache {} in {} pages ({}), {} chunks of {}, numa {}", format_bytes(arena_->size()),
                 arena_->page_kind(), arena_->page_note(), cache_->slots(), format_bytes(config_.chunk_size),
                 arena_->numa_report());
    return {};
}

Engine::~Engine() {
    stopping_ = true;  // a preload still running stops at its next piece, so the join below is short
    pool_.reset();  // join workers before the cache and arena they use go away
    hugetlb_.reset();
    store_.reset();
    cache_.reset();
    arena_.reset();
}

std::unique_ptr<OpenFile> Engine::open(uint64_t ino) {
    const Node* n = tree_.get(ino);
    if (!n || n->kind != NodeKind::File) return nullptr;
    auto f = std::make_unique<OpenFile>();
    f->ino = ino;
    f->file = n->file;
    f->window = initial_window();
    std::lock_guard lock(open_mu_);
    open_counts_[ino]++;
    return f;
}

Status Engine::check_sources(uint64_t ino) {
    const Node* n = tree_.get(ino);
    if (!n || n->kind != NodeKind::File) return {};
    Status st = n->file->verify_sources();
    if (!st) read_failed(ino, st.error());
    return st;
}

// Shown in status while it runs, so a consumer's open that waits seconds for a large file says
// why; logged when done if it took a second or more. Progress calls may come from any thread.
class Engine::Tracked {
public:
    Tracked(Engine& e, std::string path, const VirtualFile& file, const char* why, Progress inner = {})
        : e_(e), inner_(std::move(inner)), m_(std::make_shared<Making>()) {
        m_->path = std::move(path);
        m_->why = why;
        m_->total = file.size();
        m_->start = std::chrono::steady_clock::now();
        std::lock_guard lock(e_.open_mu_);
        key_ = ++e_.making_seq_;
        e_.making_[key_] = m_;
    }
    ~Tracked() {
        {
            std::lock_guard lock(e_.open_mu_);
            e_.making_.erase(key_);
        }
        const uint64_t done = m_->done.load();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_->start).count();
        if (done > 0 && s >= 1.0)
            spdlog::info("materialized {} ({}) {} in {:.1f} s ({:.2f} GB/s)", m_->path, format_bytes(done), m_->why, s,
                         static_cast<double>(done) / s / 1e9);
    }
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
    Progress progress() const {
        return [m = m_, inner = inner_, &e = e_](uint64_t n) {
            m->done.fetch_add(n, std::memory_order_relaxed);
            return inner ? inner(n) : !e.stopping_.load(std::memory_order_relaxed);
        };
    }

private:
    Engine& e_;
    Progress inner_;
    std::shared_ptr<Making> m_;
    uint64_t key_ = 0;
};

Result<Engine::Backing> Engine::backing_for(OpenFile& f, bool o_direct) {
    const SourceFile* whole = f.file->whole_source();
    Error why{ENOTSUP, "no backing tmpfs"};
    if (store_) {
        const Tracked making(*this, tree_.path_of(f.ino), *f.file, "for an open (passthrough)");
        auto fd = store_->file(*f.file, *pool_, config_.threads + 1, making.progress());
        if (fd) {
            materialize_ahead(f.ino);
            return Backing{*fd, "passthrough", true};
        }
        why = fd.error();
    }
    // Only a budget miss falls back to the source: a file that failed to materialize (a bad
    // source sector, say) is not handed to the kernel to fail again there.
    // Not for O_DIRECT: the source's filesystem would then hold the reader to its own alignment
    // rules (EINVAL for a buffer FUSE takes as it comes).
    if (whole && !o_direct && (!store_ || why.code == ENOSPC))
        return Backing{whole->fd(), "passthrough to the source (unchanged file, " +
                                        std::string(store_ ? "larger than the backing budget)" : "no backing tmpfs)")};
    return why;
}

void Engine::release_backing(const VirtualFile& f) {
    if (store_) store_->release(f.id());
}

void Engine::set_served(OpenFile& f, std::string how) {
    f.served = how;
    std::lock_guard lock(open_mu_);
    served_[f.ino] = std::move(how);
}

Result<std::string> Engine::symlink_target(uint64_t ino, Link how) {
    const Node* n = tree_.get(ino);
    if (!n || !symlinked(*n)) return make_error(EINVAL, "not a symlink");
    if (how == Link::Lazy) return tree_.alias_target(ino);
    if (how == Link::AsIs) return target_as_is(*n, true);  // handed out: not evicted in the next second
    const std::string at = tree_.path_of(ino);
    const Tracked making(*this, at, *n->file, "for an open (hugetlbfs)");
    auto path = hugetlb_->file(*n->file, *pool_, config_.threads + 1, making.progress());
    if (!path && (path.error().code == ENOSPC || path.error().code == ENOMEM)) {
        // No room in the pool now: the bytes are served lazily rather than refused.
        std::string alias = tree_.alias_target(ino);
        log_warning(at, "served lazily through " + alias + ": " + path.error().message);
        std::lock_guard lock(open_mu_);
        symlinks_[ino] = {alias, path.error().message};
        return alias;
    }
    if (!path) {
        read_failed(ino, path.error());
        return path.error();
    }
    materialize_ahead(ino);
    std::lock_guard lock(open_mu_);
    symlinks_[ino] = {*path, ""};
    return path;
}

std::string Engine::target_as_is(const Node& n, bool resolved) {
    const bool made = resolved ? hugetlb_->touch(n.file->id()) : hugetlb_->holds(n.file->id());
    return made ? hugetlb_->path_for(*n.file) : tree_.alias_target(n.ino);
}

size_t Engine::symlink_size(const Node& n) {
    // What a stat would get now (an open may differ: it can make the file); not a resolution.
    return target_as_is(n, false).size();
}

void Engine::run_ahead(const Node& next, std::function<void(const VirtualFile&)> work) {
    {
        std::lock_guard lock(open_mu_);
        if (!ahead_.insert(next.ino).second) return;  // under way
    }
    stats_.ahead.fetch_add(1, std::memory_order_relaxed);
    pool_->submit([this, ino = next.ino, file = next.file, work = std::move(work)] {
        work(*file);
        std::lock_guard lock(open_mu_);
        ahead_.erase(ino);
    });
}

void Engine::materialize_ahead(uint64_t ino) {
    const Node* next = tree_.get(tree_.next_file(ino));
    if (!next) return;
    if (hugetlb_ ? !symlinked(*next) || hugetlb_->holds(next->file->id())
                 : next->file->size() > store_->budget() || store_->holds(next->file->id()))
        return;  // never from here, or ready already
    run_ahead(*next, [this, path = tree_.path_of(next->ino)](const VirtualFile& file) {
        const Tracked making(*this, path, file, hugetlb_ ? "ahead (hugetlbfs)" : "ahead (passthrough)");
        // A failure (no room left, say) is not logged here: the file's own open meets it again
        // and reports it there.
        if (hugetlb_) (void)hugetlb_->file(file, *pool_, config_.threads, making.progress());
        else if (store_->file(file, *pool_, config_.threads, making.progress())) store_->release(file.id());
    });
}

void Engine::warm_ahead(uint64_t ino) {
    const Node* next = tree_.get(tree_.next_file(ino));
    if (!next || next->file->size() == 0) return;
    run_ahead(*next, [this](const VirtualFile& file) {
        const uint64_t chunk = config_.chunk_size;
        const uint64_t chunks = std::min((file.size() + chunk - 1) / chunk, std::max<uint64_t>(1, cache_->slots() / 4));
        std::vector<iovec> iov;
        std::vector<const SourceFile*> sources;
        for (uint64_t c = 0; c < chunks && !stopping_.load(std::memory_order_relaxed); ++c) {
            const uint64_t off = c * chunk, len = std::min(chunk, file.size() - off);
            iov.clear();
            sources.clear();
            if (config_.verbatim != Verbatim::Cached && file.map_range(off, static_cast<size_t>(len), iov, sources, kMaxMappedIov)) {
                // Read from the source's own pages: have the kernel read them in now (no
                // page is mapped here by this).
                for (const iovec& v : iov) {
                    const auto at = reinterpret_cast<uintptr_t>(v.iov_base) & ~uintptr_t{4095};
                    ::madvise(reinterpret_cast<void*>(at), reinterpret_cast<uintptr_t>(v.iov_base) + v.iov_len - at, MADV_WILLNEED);
                }
            } else if (auto pin = cache_->get(file, c); !pin) {
                break;  // its own read meets the error again and reports it
            }
        }
    });
}

void Engine::close(OpenFile& f) {
    std::lock_guard lock(open_mu_);
    if (--open_counts_[f.ino] == 0) open_counts_.erase(f.ino);
}

void Engine::read_failed(uint64_t ino, const Error& e) {
    stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
    log_read_error(tree_.path_of(ino), e);
}

bool Engine::log_due(const std::string& path) {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(log_mu_);
    auto& last = last_log_[path];
    if (now - last < std::chrono::seconds(1)) return false;
    last = now;
    return true;
}

void Engine::log_read_error(const std::string& path, const Error& e) {
    if (log_due(path)) spdlog::error("serving {} failed: {} (EIO to the reader)", path, e.message);
}

void Engine::log_warning(const std::string& path, const std::string& message) {
    if (log_due(path)) spdlog::warn("{}: {}", path, message);
}

Result<ReadReply> Engine::read(OpenFile& f, uint64_t offset, size_t len) {
    ReadReply reply;
    const VirtualFile& file = *f.file;
    if (offset >= file.size() || len == 0) return reply;
    len = static_cast<size_t>(std::min<uint64_t>(len, file.size() - offset));
    stats_.read_requests.fetch_add(1, std::memory_order_relaxed);
    if (!f.read_once.exchange(true, std::memory_order_relaxed)) warm_ahead(f.ino);

    // A range copied unchanged is sent from where it already is: no fill, no second copy of the
    // source in the cache. The sources are checked now; after_reply() checks them again.
    if (config_.verbatim != Verbatim::Cached && file.map_range(offset, len, reply.iov, reply.mapped, kMaxMappedIov)) {
        for (const SourceFile* src : reply.mapped)
            if (Status st = src->verify(); !st) {
                read_failed(f.ino, st.error());
                return Error{EIO, st.error().message, st.error().offset};
            }
        f.next_offset.store(offset + len, std::memory_order_relaxed);
        reply.file = f.file;
        reply.ino = f.ino;
        reply.offset = offset;
        stats_.mapped_reads.fetch_add(1, std::memory_order_relaxed);
        stats_.read_bytes.fetch_add(len, std::memory_order_relaxed);
        return reply;
    }
    reply.iov.clear();
    reply.mapped.clear();

    const uint64_t chunk = config_.chunk_size;
    const uint64_t first = offset / chunk, last = (offset + len - 1) / chunk;
    // Sequential when this read starts where the previous one ended, give or take a chunk
    // (the kernel's readahead requests can arrive out of order across FUSE threads).
    uint64_t expected = f.next_offset.load(std::memory_order_relaxed);
    bool sequential = offset + chunk >= expected && offset <= expected + chunk;
    f.next_offset.store(offset + len, std::memory_order_relaxed);
    if (!sequential) f.window.store(initial_window(), std::memory_order_relaxed);
    if (sequential && config_.prefetch > 0) prefetch_after(f, last);
    bool behind = false;

    for (uint64_t c = first; c <= last; ++c) {
        uint64_t cstart = c * chunk;
        uint64_t from = std::max(offset, cstart) - cstart;
        uint64_t to = std::min<uint64_t>({offset + len, cstart + chunk, file.size()}) - cstart;
        auto pin = cache_->get(file, c);
        if (!pin) {
            // The chunk could not be filled (a source I/O error, say). Produce just the bytes asked
            // for, so an unreadable sector costs the reader the requests that touch it, not the
            // whole chunk around it.
            auto own = std::make_unique<uint8_t[]>(to - from);
            Status narrow = file.produce(cstart + from, static_cast<size_t>(to - from), own.get());
            if (!narrow) {
                read_failed(f.ino, narrow.error());
                return Error{EIO, narrow.error().message, narrow.error().offset};
            }
            stats_.narrow_reads.fetch_add(1, std::memory_order_relaxed);
            reply.iov.push_back(iovec{own.get(), static_cast<size_t>(to - from)});
            reply.owned.push_back(std::move(own));
            continue;
        }
        behind = behind || !pin->was_ready();
        reply.iov.push_back(iovec{const_cast<uint8_t*>(pin->data()) + from, static_cast<size_t>(to - from)});
        reply.pins.push_back(std::move(pin).value());
    }
    if (sequential && behind) {
        unsigned w = f.window.load(std::memory_order_relaxed);
        f.window.store(std::min(config_.prefetch, std::max(initial_window(), 2 * w)), std::memory_order_relaxed);
    }
    stats_.read_bytes.fetch_add(len, std::memory_order_relaxed);
    return reply;
}

bool Engine::after_reply(const ReadReply& reply, int sent) {
    if (reply.mapped.empty()) return false;
    const uint64_t offset = reply.offset;
    size_t len = 0;
    for (const iovec& v : reply.iov) {
        len += v.iov_len;
        for (const SourceFile* src : reply.mapped) src->unmap_pages(static_cast<const uint8_t*>(v.iov_base), v.iov_len);
    }
    if (sent == -EFAULT) {
        // The kernel could not read a source page. Read the range the ordinary way to say where.
        std::vector<uint8_t> scratch(len);
        Status st = reply.file->produce(offset, len, scratch.data());
        read_failed(reply.ino, st ? Error{EIO, "a source page in [" + std::to_string(offset) + ", " +
                                               std::to_string(offset + len) + ") could not be read"}
                              : st.error());
        return false;
    }
    bool changed = false;
    for (const SourceFile* src : reply.mapped)
        if (Status st = src->verify(); !st) {
            read_failed(reply.ino, st.error());
            changed = true;
        }
    return changed;
}

void Engine::prefetch_after(OpenFile& f, uint64_t chunk) {
    const uint64_t n_chunks = (f.file->size() + config_.chunk_size - 1) / config_.chunk_size;
    const unsigned depth = std::max(1u, f.window.load(std::memory_order_relaxed));
    uint64_t want = std::min<uint64_t>(chunk + depth, n_chunks - 1);
    uint64_t done = f.prefetched_to.load(std::memory_order_relaxed);
    if (done >= want && done <= want + config_.prefetch) return;  // already queued (or reader jumped back)
    uint64_t from = (done > chunk && done < want) ? done + 1 : chunk + 1;
    f.prefetched_to.store(want, std::memory_order_relaxed);
    for (uint64_t c = from; c <= want; ++c) {
        if (cache_->present(*f.file, c)) continue;
        stats_.prefetches.fetch_add(1, std::memory_order_relaxed);
        pool_->submit([this, file = f.file, c] {
            if (!cache_->present(*file, c)) (void)cache_->get(*file, c);  // errors surface on the real read
        });
    }
}

void Engine::preload(bool passthrough) {
    if (config_.preload.empty()) return;
    uint64_t total = 0;
    std::vector<std::pair<std::string, VirtualFilePtr>> matched;
    for (auto& [path, file] : tree_.files())
        if (fnmatch(config_.preload.c_str(), path.c_str(), 0) == 0) {
            total += file->size();
            matched.push_back({path, file});
        }
    stats_.preload_total = total;
    spdlog::info("preload '{}': {} files, {}", config_.preload, matched.size(), format_bytes(total));
    // Files that will be served from materialized memory (passthrough backing files, hugetlbfs
    // symlinks) are materialized now, one after another on every worker, so their first open
    // finds them ready; the rest warm the chunk cache, a task per file.
    pool_->submit([this, passthrough, matched = std::move(matched)] {
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t materialized = 0, warm = 0;
        for (auto& [path, file] : matched) {
            if (stopping_) return;
            auto m = preload_materialized("/" + path, *file, passthrough);
            if (!m) {
                if (stopping_) return;
                log_read_error(path, m.error());  // counted as done: served lazily (or EIO) at open
            } else if (*m) {
                materialized += file->size();
            } else {
                warm += file->size();
                pool_->submit([this, path = path, file = file] { preload_chunks(path, *file); });
            }
        }
        if (materialized)
            spdlog::info("preload: {} materialized for {} in {:.2f} s", format_bytes(materialized),
                         hugetlb_ ? "hugetlbfs" : "passthrough",
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (warm > arena_->size())
            spdlog::warn("preload of {} into the chunk cache exceeds it ({}): only the most recent part stays resident",
                         format_bytes(warm), format_bytes(arena_->size()));
    });
}

Result<bool> Engine::preload_materialized(const std::string& path, const VirtualFile& file, bool passthrough) {
    if (hugetlb_ ? !hugetlb_->fits(file.size()) : !passthrough || file.size() == 0) return false;  // warmed instead
    std::atomic<uint64_t> produced{0};
    const Tracked making(*this, path, file, hugetlb_ ? "for preload (hugetlbfs)" : "for preload (passthrough)",
                         [&](uint64_t n) {
                             produced.fetch_add(n, std::memory_order_relaxed);
                             stats_.preload_done.fetch_add(n, std::memory_order_relaxed);
                             return !stopping_.load(std::memory_order_relaxed);
                         });
    const Progress progress = making.progress();
    // The file counts as done whatever happened (the consumer may have materialized it first,
    // or it failed): the rest of its bytes are added at once.
    auto finish = [&](Result<bool> r) {
        stats_.preload_done.fetch_add(file.size() - produced, std::memory_order_relaxed);
        return r;
    };
    if (hugetlb_) {
        auto made = hugetlb_->file(file, *pool_, config_.threads, progress, Eviction::Never);
        return finish(made ? Result<bool>(true) : Result<bool>(made.error()));
    }
    if (store_) {
        auto fd = store_->file(file, *pool_, config_.threads, progress, Eviction::Never);
        if (fd) {
            store_->release(file.id());  // made ahead of its opens, which hold it while they last
            return finish(true);
        }
        if (fd.error().code != ENOSPC) return finish(fd.error());
    }
    // Does not fit (or no backing tmpfs): a whole unchanged source file is passed through to the
    // source itself, nothing to warm; anything else is served lazily.
    if (file.whole_source()) return finish(true);
    return false;
}

void Engine::preload_chunks(const std::string& path, const VirtualFile& file) {
    uint64_t n = (file.size() + config_.chunk_size - 1) / config_.chunk_size;
    for (uint64_t c = 0; c < n && !stopping_.load(std::memory_order_relaxed); ++c) {
        auto pin = cache_->get(file, c);
        if (!pin) {
            log_read_error(path, pin.error());
            stats_.preload_done.fetch_add(file.size() - std::min<uint64_t>(file.size(), c * config_.chunk_size),
                                          std::memory_order_relaxed);
            return;
        }
        stats_.preload_done.fetch_add(pin->size(), std::memory_order_relaxed);
    }
}

std::string Engine::status_text() {
    std::ostringstream o;
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    uint64_t hits = stats_.hits, misses = stats_.misses, waits = stats_.waits;
    uint64_t lookups = hits + misses + waits;
    double fill_s = static_cast<double>(stats_.fill_ns.load()) / 1e9;
    char buf[256];
    o << "version: " << WEIGHTFS_VERSION << "\n";
    o << "source: " << catalog_.root << "\n";
    std::snprintf(buf, sizeof buf, "%.1f", secs);
    o << "uptime_s: " << buf << "\n";
    o << "cache_budget: " << arena_->size() << " (" << format_bytes(arena_->size()) << ")\n";
    o << "cache_used: " << cache_->used_bytes() << " (" << format_bytes(cache_->used_bytes()) << ")\n";
    const uint64_t resident = cache_->used_slots() * config_.chunk_size;
    o << "cache_slots_used: " << resident << " (" << format_bytes(resident) << " in " << cache_->used_slots() << " chunks)\n";
    o << "chunk_size: " << config_.chunk_size << "\n";
    o << "chunks: " << cache_->slots() << "\n";
    o << "page_kind: " << arena_->page_kind() << "\n";
    o << "page_note: " << arena_->page_note() << "\n";
    o << "hugepages_reserved: " << arena_->reserved_hugepages() << "\n";
    o << "numa: " << arena_->numa_report() << "\n";
    o << "threads: " << config_.threads << " workers, prefetch up to " << config_.prefetch << " chunks (adaptive per reader)\n";
    const char* serve_names[] = {"lazy", "auto", "passthrough", "hugetlb"};
    o << "serve: " << serve_names[static_cast<int>(config_.serve)];
    if (hugetlb_) o << " (hugetlbfs at " << hugetlb_->mount_path() << ", " << hugetlb_->files() << " files, "
                    << format_bytes(hugetlb_->used()) << " of " << format_bytes(hugetlb_->budget()) << ", "
                    << hugetlb_->evictions() << " evicted)";
    if (store_) o << " (backing tmpfs huge=always, " << store_->files() << " files, " << format_bytes(store_->used()) << " of "
                  << format_bytes(store_->budget()) << ", " << format_bytes(store_->huge()) << " on 2 MiB pages, "
                  << store_->evictions() << " evicted)";
    o << "\n";
    std::snprintf(buf, sizeof buf, "%.4f", lookups ? static_cast<double>(hits + waits) / lookups : 0.0);
    o << "hits: " << hits << "\nmisses: " << misses << "\nwaits: " << waits << "\nhit_rate: " << buf << "\n";
    o << "fills: " << stats_.fills << "\nfill_bytes: " << stats_.fill_bytes << "\n";
    std::snprintf(buf, sizeof buf, "%.2f", fill_s > 0 ? static_cast<double>(stats_.fill_bytes) / fill_s / 1e9 : 0.0);
    o << "fill_GBps: " << buf << "\n";
    o << "fill_errors: " << stats_.fill_errors << "\nnarrow_reads: " << stats_.narrow_reads << "\nevictions: " << stats_.evictions << "\n";
    o << "prefetches: " << stats_.prefetches << "\n";
    o << "shards_ahead: " << stats_.ahead << "\n";
    o << "read_requests: " << stats_.read_requests << "\nread_bytes: " << stats_.read_bytes << "\n";
    o << "verbatim: " << (config_.verbatim == Verbatim::Cached ? "cached" : "mapped") << "\nmapped_reads: " << stats_.mapped_reads << "\n";
    std::snprintf(buf, sizeof buf, "%.2f", secs > 0 ? static_cast<double>(stats_.read_bytes) / secs / 1e9 : 0.0);
    o << "read_GBps_avg: " << buf << "\nread_errors: " << stats_.read_errors << "\n";
    uint64_t pt = stats_.preload_total, pd = std::min<uint64_t>(stats_.preload_done, pt);
    o << "preload: " << (config_.preload.empty() ? "-" : config_.preload) << " " << pd << "/" << pt;
    if (pt > 0) {
        int filled = static_cast<int>(40.0 * static_cast<double>(pd) / static_cast<double>(pt));
        o << " [" << std::string(filled, '#') << std::string(40 - filled, '.') << "] "
          << static_cast<int>(100.0 * static_cast<double>(pd) / static_cast<double>(pt)) << "%";
    }
    o << "\n";
    std::lock_guard lock(open_mu_);
    o << "open_files: " << open_counts_.size() << "\n";
    for (auto& [seq, m] : making_) {
        const uint64_t done = std::min(m->done.load(std::memory_order_relaxed), m->total);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - m->start).count();
        std::snprintf(buf, sizeof buf, " (%d%%), %.2f GB/s, ", m->total ? static_cast<int>(100.0 * done / m->total) : 100,
                      s > 0 ? static_cast<double>(done) / s / 1e9 : 0.0);
        o << "materializing: " << escape_name(m->path) << " " << format_bytes(done) << " of " << format_bytes(m->total) << buf << m->why << "\n";
    }
    for (auto& [ino, count] : open_counts_) {
        auto how = served_.find(ino);
        o << "open: " << escape_name(tree_.path_of(ino)) << " x" << count << " (" << (how == served_.end() ? "lazy" : how->second) << ")\n";
    }
    for (auto& [ino, r] : symlinks_)
        o << "symlink: " << escape_name(tree_.path_of(ino)) << " -> " << escape_name(r.target)
          << (r.lazy_why.empty() ? " (hugetlb)" : " (lazy: " + r.lazy_why + ")") << "\n";
    return o.str();
}

}  // namespace wfs

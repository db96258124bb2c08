#include "weightfs/arena.hpp"

#include <numa.h>
#include <numaif.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <optional>
#include <fstream>

#include <spdlog/spdlog.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

namespace wfs {

namespace {

// Serializes read-modify-writes of the pool between weightfs daemons (flock on the sysctl file
// itself): two that start or stop at once must not both write "what I read + mine".
class PoolLock {
public:
    explicit PoolLock(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_ >= 0) flock(fd_, LOCK_EX);
    }
    ~PoolLock() {
        if (fd_ >= 0) close(fd_);  // releases the lock
    }
    PoolLock(const PoolLock&) = delete;
    PoolLock& operator=(const PoolLock&) = delete;

private:
    int fd_;
};

std::string pool_file(uint64_t page_size, const char* what) {
    return "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size >> 10) + "kB/" + what;
}

std::optional<uint64_t> read_number(const std::string& path) {
    std::ifstream in(path);
    uint64_t v = 0;
    if (!(in >> v)) return std::nullopt;
    return v;
}

bool write_number(const std::string& path, uint64_t v) {
    std::ofstream out(path);
    out << v;
    out.flush();
    return static_cast<bool>(out);
}

bool thp_available() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string s((std::istreambuf_iterator<char>(in)), {});
    return !s.empty() && s.find("[never]") == std::string::npos;
}

std::string mode_name(int mode) {
    switch (mode) {
        case MPOL_DEFAULT: return "default";
        case MPOL_PREFERRED: return "preferred";
        case MPOL_BIND: return "bind";
        case MPOL_INTERLEAVE: return "interleave";
        case MPOL_LOCAL: return "local";
        default: return "mode " + std::to_string(mode);
    }
}

// Binds the policy to [p, p+n) before any page is touched, then asks the kernel what it holds.
Result<std::string> apply_numa(void* p, uint64_t n, const NumaPolicy& policy) {
    if (numa_available() < 0) return std::string("unavailable (kernel without NUMA support): not applied");
    int max_node = numa_max_node();
    errno = 0;
    switch (policy.kind) {
        case NumaPolicy::Interleave: numa_interleave_memory(p, n, numa_all_nodes_ptr); break;
        case NumaPolicy::Local: numa_setlocal_memory(p, n); break;
        case NumaPolicy::Node:
            if (policy.node < 0 || policy.node > max_node)
                return make_error(EINVAL, "numa=" + std::to_string(policy.node) + ": no such node (this machine has " +
                                              std::to_string(max_node + 1) + ")");
            numa_tonode_memory(p, n, policy.node);
            break;
    }
    if (errno != 0) return make_error(errno, std::string("mbind failed: ") + std::strerror(errno));
    int mode = -1;
    unsigned long mask[16] = {};
    if (get_mempolicy(&mode, mask, sizeof(mask) * 8, p, MPOL_F_ADDR) != 0)
        return make_error(errno, std::string("get_mempolicy failed: ") + std::strerror(errno));
    std::string nodes;
    for (int i = 0; i <= max_node && i < static_cast<int>(sizeof(mask) * 8); ++i)
        if (mask[i / 64] & (1ul << (i % 64))) nodes += (nodes.empty() ? "" : ",") + std::to_string(i);
    return numa_policy_name(policy) + " (kernel: " + mode_name(mode) + (nodes.empty() ? "" : " nodes " + nodes) +
           "; " + std::to_string(max_node + 1) + " node(s))";
}

}  // namespace

std::string numa_policy_name(const NumaPolicy& p) {
    switch (p.kind) {
        case NumaPolicy::Interleave: return "interleave";
        case NumaPolicy::Local: return "local";
        case NumaPolicy::Node: return "node " + std::to_string(p.node);
    }
    return "?";
}

Result<std::unique_ptr<Arena>> Arena::create(const ArenaConfig& cfg) {
    std::unique_ptr<Arena> a(new Arena());
    const uint64_t hp = cfg.hugepage_size;
    const uint64_t pages = (cfg.bytes + hp - 1) / hp;

    if (cfg.reserve_hugepages > 0 && cfg.hugepages != HugepageMode::Off) {
        a->pool_path_ = pool_file(hp, "nr_hugepages");
        const PoolLock lock(a->pool_path_);
        auto before = read_number(a->pool_path_);
        if (!before) return make_error(ENOENT, "reserve_hugepages: cannot read " + a->pool_path_);
        if (!write_number(a->pool_path_, *before + cfg.reserve_hugepages))
            return make_error(EACCES, "reserve_hugepages: cannot write " + a->pool_path_ + " (needs root)");
        a->reserved_ = read_number(a->pool_path_).value_or(*before) - *before;
        spdlog::info("reserved {} of {} requested {} KiB hugepages (pool {} -> {})", a->reserved_,
                     cfg.reserve_hugepages, hp >> 10, *before, *before + a->reserved_);
    }

    if (cfg.pool_for_files && cfg.hugepages != HugepageMode::Off) a->page_note_ = "hugetlb pool left to serve=hugetlb files";
    if (cfg.hugepages != HugepageMode::Off && !cfg.pool_for_files) {
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (__builtin_ctzll(hp) << MAP_HUGE_SHIFT);
        void* p = mmap(nullptr, pages * hp, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p != MAP_FAILED) {
            a->map_ = p;
            a->map_size_ = pages * hp;
            a->base_ = static_cast<uint8_t*>(p);
            a->size_ = pages * hp;
            a->page_kind_ = hp >= (1ull << 30) ? "hugetlb-1G" : "hugetlb-2M";
            a->page_note_ = std::to_string(pages) + " explicit hugepages";
        } else {
            auto free_pages = read_number(pool_file(hp, "free_hugepages")).value_or(0);
            a->page_note_ = "hugetlb pool has " + std::to_string(free_pages) + " free " + std::to_string(hp >> 10) +
                            " KiB pages, " + std::to_string(pages) + " needed";
            if (cfg.hugepages == HugepageMode::Require)
                return make_error(ENOMEM, "hugepages=require: " + a->page_note_ +
                                              " (raise /proc/sys/vm/nr_hugepages or use reserve_hugepages=N)");
        }
    }
    if (!a->base_) {
        // Over-allocate by 2 MiB so the arena starts on a hugepage boundary: chunks then map to whole THPs.
        constexpr uint64_t k2M = 2ull << 20;
        uint64_t bytes = (cfg.bytes + k2M - 1) / k2M * k2M;
        void* p = mmap(nullptr, bytes + k2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return make_error(ENOMEM, "cannot map a cache of " + std::to_string(bytes) + " bytes");
        a->map_ = p;
        a->map_size_ = bytes + k2M;
        a->base_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + k2M - 1) & ~(k2M - 1));
        a->size_ = bytes;
        bool thp = cfg.hugepages != HugepageMode::Off && thp_available() &&
                   madvise(a->base_, a->size_, MADV_HUGEPAGE) == 0;
        if (cfg.hugepages == HugepageMode::Off) madvise(a->base_, a->size_, MADV_NOHUGEPAGE);
        a->page_kind_ = thp ? "thp" : "4k";
        if (cfg.hugepages == HugepageMode::Off) a->page_note_ = "hugepages=off";
        else if (!thp) a->page_note_ += (a->page_note_.empty() ? "" : "; ") + std::string("transparent hugepages disabled");
    }
    auto numa = apply_numa(a->base_, a->size_, cfg.numa);
    if (!numa) return numa.error();
    a->numa_report_ = numa.value();
    return a;
}

Arena::~Arena() {
    if (map_) munmap(map_, map_size_);
    if (!pool_path_.empty() && reserved_ > 0) {
        // What this daemon added is taken out again — not "the value before": another daemon
        // may have raised the pool meanwhile, or an administrator lowered it. Pages still being
        // released (a hugetlbfs file just unlinked, a consumer's last unmap) cannot be taken out
        // yet: write again until they are, for up to 2 s.
        const PoolLock lock(pool_path_);
        const uint64_t at_exit = read_number(pool_path_).value_or(0);
        const uint64_t target = at_exit > reserved_ ? at_exit - reserved_ : 0;
        bool written = false;
        for (int i = 0; i < 100; ++i) {
            written = write_number(pool_path_, target);
            if (!written || read_number(pool_path_).value_or(0) <= target) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        auto now = read_number(pool_path_).value_or(0);
        if (!written)
            spdlog::error("could not lower {} to {}", pool_path_, target);
        else if (now > target)
            spdlog::warn("hugepage pool at {}, not {}: {} pages are still in use elsewhere", now, target, now - target);
        else
            spdlog::info("hugepage pool lowered by {} to {}", at_exit - target, target);
    }
}

}  // namespace wfs

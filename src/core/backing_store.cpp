#include "weightfs/backing_store.hpp"
#include "weightfs/materialize.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

namespace wfs {

namespace {
// What a file can take of the tmpfs: its pages are 2 MiB wherever a whole one fits the mapping
// and 4 KiB at the tail, so never more than its size rounded up to 2 MiB. Counting that (not the
// byte size) keeps every fill inside the tmpfs: a fault that found it full would be a SIGBUS in
// the filling thread, not an error.
constexpr uint64_t kHugePage = 2ull << 20;
uint64_t footprint(uint64_t size) { return (size + kHugePage - 1) / kHugePage * kHugePage; }

// How much of this process's shared mapping at `addr` is mapped by 2 MiB page-table entries
// (its ShmemPmdMapped in /proc/self/smaps): after the mapping is populated, how much of the file
// is on huge pages. 0 when it cannot be read.
uint64_t pmd_mapped_bytes(const void* addr) {
    FILE* f = std::fopen("/proc/self/smaps", "re");
    if (!f) return 0;
    char want[32];
    std::snprintf(want, sizeof want, "%lx-", reinterpret_cast<unsigned long>(addr));
    char line[512];
    bool in = false;
    uint64_t kib = 0;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, want, std::strlen(want)) == 0) in = true;
        else if (in && std::sscanf(line, "ShmemPmdMapped: %lu kB", &kib) == 1) break;
        else if (in && std::strncmp(line, "VmFlags:", 8) == 0) break;
    }
    std::fclose(f);
    return kib << 10;
}
}  // namespace

std::string BackingStore::huge_page_obstacle() {
    char buf[128] = {};
    if (FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re")) {
        const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[n] = 0;
        if (std::strstr(buf, "[deny]"))
            return "huge pages for tmpfs are denied system-wide: /sys/kernel/mm/transparent_hugepage/shmem_enabled is deny";
    }
    if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1)
        return "transparent huge pages are disabled for this process: PR_SET_THP_DISABLE, inherited from its parent";
    return {};
}

Result<std::unique_ptr<BackingStore>> BackingStore::create(uint64_t budget) {
    std::unique_ptr<BackingStore> s(new BackingStore());
    s->budget_ = budget / kHugePage * kHugePage;
    int fs = static_cast<int>(syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
    if (fs < 0) return make_error(errno, std::string("fsopen(tmpfs) failed: ") + std::strerror(errno));
    const std::string size = std::to_string(std::max(s->budget_, kHugePage));  // never 0: unlimited
    auto set = [&](const char* key, const char* value) {
        return syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value, 0) == 0;
    };
    if (!set("huge", "always") || !set("size", size.c_str()) || !set("mode", "0700") ||
        syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
        int e = errno;
        close(fs);
        return make_error(e, std::string("configuring the backing tmpfs failed: ") + std::strerror(e));
    }
    s->mount_fd_ = static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0));
    int e = errno;
    close(fs);
    if (s->mount_fd_ < 0) return make_error(e, std::string("fsmount(tmpfs) failed: ") + std::strerror(e));
    // Pages are allocated through this process's mapping, so an inherited PR_SET_THP_DISABLE
    // would put every file on 4 KiB pages; the store exists to give consumers 2 MiB ones.
    if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 && prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0) == 0)
        spdlog::info("backing tmpfs: transparent huge pages were disabled for this process (PR_SET_THP_DISABLE, "
                     "inherited): switched back on, the files are made on 2 MiB pages");
    const std::string obstacle = huge_page_obstacle();
    if (!obstacle.empty())
        spdlog::warn("backing tmpfs: {}: materialized files will be on 4 KiB pages, and so will consumers' mmaps of them",
                     obstacle);
    return s;
}

BackingStore::~BackingStore() {
    for (auto& [id, e] : entries_)
        if (e->fd >= 0) close(e->fd);
    if (mount_fd_ >= 0) close(mount_fd_);  // the detached tmpfs goes with its last reference
}

uint64_t BackingStore::used() {
    std::lock_guard lock(mu_);
    return used_;
}

size_t BackingStore::files() {
    std::lock_guard lock(mu_);
    return entries_.size();
}

bool BackingStore::holds(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    return it != entries_.end() && it->second->ok;
}

uint64_t BackingStore::huge() {
    std::lock_guard lock(mu_);
    return huge_;
}

uint64_t BackingStore::evictions() {
    std::lock_guard lock(mu_);
    return evictions_;
}

Status BackingStore::fill(const VirtualFile& file, int fd, WorkerPool& pool, unsigned threads, const Progress& progress,
                          uint64_t& huge) {
    const uint64_t size = file.size();
    if (size == 0) return {};
    if (ftruncate(fd, static_cast<off_t>(size)) != 0)
        return make_error(errno, std::string("sizing the backing file: ") + std::strerror(errno));
    void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return make_error(errno, std::string("mmap of the backing file: ") + std::strerror(errno));
    auto* base = static_cast<uint8_t*>(map);
    // Each piece's pages are allocated before it is written, so a full tmpfs is an error and
    // never a SIGBUS in a filling thread (it can be fuller than the budget says while an evicted
    // file is still held by a consumer's map) — by the thread that writes it, so the clearing of
    // fresh pages, most of a materialization's cost, is spread over the threads. Allocated
    // through a MADV_HUGEPAGE mapping, the kernel compacts memory to find 2 MiB pages;
    // fallocate() (no mapping) takes 4 KiB ones whenever free memory is fragmented
    // (defrag=madvise, the default), and every consumer's mmap of the file is then on 4 KiB
    // pages. fallocate() of the whole file stays for kernels without MADV_POPULATE_WRITE (< 5.14).
    madvise(map, size, MADV_HUGEPAGE);
    auto failed = [](int e) {
        if (e == EFAULT) e = ENOSPC;  // the fault would have been a SIGBUS: on tmpfs, no space left
        return make_error(e, std::string("allocating the backing file: ") + std::strerror(e));
    };
    Prepare allocate = [base, failed](uint64_t off, uint64_t len) -> Status {
        if (madvise(base + off, len, MADV_POPULATE_WRITE) == 0) return {};
        return failed(errno);
    };
    Status st = allocate(0, std::min<uint64_t>(size, kHugePage));  // also asks whether the kernel can
    if (!st && st.error().code == EINVAL) {
        allocate = nullptr;
        st = fallocate(fd, 0, 0, static_cast<off_t>(size)) == 0 ? Status{} : failed(errno);
    }
    if (st) st = materialize(file, base, pool, threads, progress, allocate);
    if (st) huge = pmd_mapped_bytes(map);  // ~4 ms per GiB (smaps looks at every 4 KiB page): <1% of a fill
    munmap(map, size);
    return st;
}

void BackingStore::remove(uint64_t id, Entry& e) {
    if (e.fd >= 0) close(e.fd);
    e.fd = -1;
    unlinkat(mount_fd_, std::to_string(id).c_str(), 0);  // its pages go once the kernel lets go too
    used_ -= e.footprint;
    huge_ -= e.huge;
    entries_.erase(id);
}

bool BackingStore::make_room(uint64_t need) {
    if (need > budget_) return false;
    std::vector<std::pair<uint64_t, uint64_t>> idle;  // (last use, id)
    uint64_t freeable = 0;
    for (auto& [id, e] : entries_)
        if (e->holders == 0 && e->ok) {
            idle.emplace_back(e->last_use, id);
            freeable += e->footprint;
        }
    if (used_ + need > budget_ + freeable) return false;
    std::sort(idle.begin(), idle.end());
    for (auto& [tick, id] : idle) {
        if (used_ + need <= budget_) break;
        spdlog::debug("backing tmpfs: evicting file {} (unused) to make room", id);
        remove(id, *entries_[id]);
        ++evictions_;
    }
    return true;
}

Result<int> BackingStore::file(const VirtualFile& vf, WorkerPool& pool, unsigned threads, const Progress& progress,
                               Eviction eviction) {
    std::shared_ptr<Entry> e;
    {
        std::lock_guard lock(mu_);
        auto it = entries_.find(vf.id());
        if (it == entries_.end()) {
            const uint64_t need = footprint(vf.size());
            if (eviction == Eviction::Never ? used_ + need > budget_ : !make_room(need))
                return make_error(ENOSPC, "file of " + std::to_string(vf.size()) + " bytes does not fit the backing budget (" +
                                              std::to_string(budget_ - used_) + " bytes left, the rest held by open files)");
            used_ += need;
            it = entries_.emplace(vf.id(), std::make_shared<Entry>()).first;
            it->second->footprint = need;
        }
        e = it->second;
        e->holders++;  // from here it cannot be evicted, filled or not
    }
    std::call_once(e->once, [&] {
        const std::string name = std::to_string(vf.id());
        int fd = openat(mount_fd_, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            e->error = make_error(errno, std::string("creating the backing file: ") + std::strerror(errno));
            return;
        }
        uint64_t huge = 0;
        Status st = fill(vf, fd, pool, threads, progress, huge);
        close(fd);
        if (!st) {
            e->error = st.error();
            unlinkat(mount_fd_, name.c_str(), 0);
            return;
        }
        e->fd = openat(mount_fd_, name.c_str(), O_RDONLY | O_CLOEXEC);
        e->ok = e->fd >= 0;
        if (!e->ok) {
            e->error = make_error(errno, std::string("reopening the backing file: ") + std::strerror(errno));
            return;
        }
        const uint64_t whole = vf.size() / kHugePage * kHugePage;  // a partial last 2 MiB is never PMD-mapped
        if (huge < whole) {
            std::string why = huge_page_obstacle();
            spdlog::warn("backing tmpfs: the {}/ file made from {} has {} MiB of its {} MiB on 2 MiB pages, because {}; "
                         "consumers' mmaps take 4 KiB pages there", vf.view(),
                         vf.sources().empty() ? std::string("?") : vf.sources().front(), huge >> 20, whole >> 20,
                         why.empty() ? "memory is too fragmented for the rest" : why);
        }
        std::lock_guard lock(mu_);
        e->huge = huge;
        huge_ += huge;
    });
    std::lock_guard lock(mu_);
    if (!e->ok) {
        // Failed: forgotten (a later open tries again), once the last caller that saw it lets go.
        e->holders--;
        auto it = entries_.find(vf.id());
        if (it != entries_.end() && it->second == e && e->holders == 0) {
            used_ -= e->footprint;
            entries_.erase(it);
        }
        return e->error;
    }
    return e->fd;
}

void BackingStore::release(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second->holders == 0) return;
    it->second->holders--;
    it->second->last_use = ++tick_;
}

}  // namespace wfs

#include "weightfs/hugetlb_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "weightfs/materialize.hpp"

namespace wfs {

namespace {
constexpr const char* kPrefix = "hugetlb.";

Status make_dirs(const std::string& dir) {
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        std::string part = dir.substr(0, pos);
        if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
            return make_error(errno, "cannot create " + part + ": " + std::strerror(errno));
    }
    return {};
}
}  // namespace

void remove_stale_hugetlb_mounts(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind(kPrefix, 0) != 0) continue;
        char* end = nullptr;
        long pid = std::strtol(name.c_str() + std::strlen(kPrefix), &end, 10);
        if (pid <= 0 || *end != '\0' || kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
        std::string path = dir + "/" + name;
        // Only a hugetlbfs mounted right here: never through a link planted in DIR.
        struct stat st {};
        struct statfs fs {};
        if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (statfs(path.c_str(), &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC) umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
        if (rmdir(path.c_str()) == 0) spdlog::warn("removed {}: left behind by a daemon (pid {}) that was killed", path, pid);
    }
    closedir(d);
}

Result<std::unique_ptr<HugetlbStore>> HugetlbStore::create(const std::string& dir, uint64_t budget, uint64_t page_size) {
    std::unique_ptr<HugetlbStore> s(new HugetlbStore());
    s->page_ = page_size;
    s->budget_ = budget / page_size * page_size;
    if (s->budget_ == 0) return make_error(EINVAL, "serve=hugetlb: the budget is smaller than one huge page");
    WFS_TRY(make_dirs(dir));
    remove_stale_hugetlb_mounts(dir);
    s->path_ = dir + "/" + kPrefix + std::to_string(getpid());
    if (mkdir(s->path_.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error(errno, "cannot create " + s->path_ + ": " + std::strerror(errno));
    const std::string data = "pagesize=" + std::to_string(page_size) + ",size=" + std::to_string(s->budget_) + ",mode=0711";  // reachable, not listable
    if (mount("weightfs-hugetlb", s->path_.c_str(), "hugetlbfs", MS_NODEV | MS_NOSUID | MS_NOEXEC, data.c_str()) != 0) {
        int e = errno;
        rmdir(s->path_.c_str());
        s->path_.clear();
        return make_error(e, "mounting hugetlbfs (" + data + ") under " + dir + " failed: " + std::strerror(e));
    }
    return s;
}

HugetlbStore::~HugetlbStore() {
    if (path_.empty()) return;
    // Files first: their pages go back to the pool now (the pool is restored right after), unless
    // a consumer still has one mapped — then when it lets go.
    for (auto& [id, e] : entries_) unlink((path_ + "/" + std::to_string(id)).c_str());
    if (umount2(path_.c_str(), 0) != 0 && umount2(path_.c_str(), MNT_DETACH) != 0)
        spdlog::warn("unmounting {}: {}", path_, std::strerror(errno));
    rmdir(path_.c_str());
}

std::string HugetlbStore::path_for(const VirtualFile& file) const { return path_ + "/" + std::to_string(file.id()); }

uint64_t HugetlbStore::used() {
    std::lock_guard lock(mu_);
    return used_;
}

size_t HugetlbStore::files() {
    std::lock_guard lock(mu_);
    return entries_.size();
}

Status HugetlbStore::fill(const VirtualFile& file, const std::string& path, WorkerPool& pool, unsigned threads,
                          const Progress& progress) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) return make_error(errno, "creating " + path + ": " + std::strerror(errno));
    // Whoever follows the view's symlink is checked against this file, not the view: it gets the
    // view's read bits (the sources', narrowed) and the daemon's owner, as the view shows them.
    if (fchmod(fd, file.mode() & 0444) != 0) {
        int e = errno;
        close(fd);
        unlink(path.c_str());
        return make_error(e, "setting the mode of " + path + ": " + std::strerror(e));
    }
    // hugetlbfs refuses ftruncate to a size that is not a whole number of pages: fallocate of the
    // last page sets the exact size (and makes that page, which a fault could not: it lies past
    // the size in whole pages). The other pages are not allocated here — fallocate would clear
    // them all on this one thread — but faulted in by the materializing threads in parallel.
    const uint64_t mapped = round_up(file.size()), last = mapped - page_;
    auto no_pages = [&](int e, const char* what) {
        unlink(path.c_str());
        return make_error(e, std::string(what) + " " + std::to_string(mapped / page_) + " huge pages for " + path + ": " +
                                 std::strerror(e) + (e == ENOSPC || e == ENOMEM ? " (reserve more with reserve_hugepages=N; an evicted file a consumer still holds keeps its pages until it lets go)" : ""));
    };
    if (fallocate(fd, 0, static_cast<off_t>(last), static_cast<off_t>(file.size() - last)) != 0) {
        int e = errno;
        close(fd);
        return no_pages(e, "allocating");
    }
    // A shared mapping of hugetlbfs reserves every page it spans at mmap (ENOMEM now, never a
    // SIGBUS at a fault). Mapped read-only, then made writable: a writable mmap grows the file
    // to whole pages, and the view must keep its exact size.
    void* map = mmap(nullptr, mapped, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return no_pages(e, "reserving");
    if (mprotect(map, mapped, PROT_READ | PROT_WRITE) != 0) {
        e = errno;
        munmap(map, mapped);
        unlink(path.c_str());
        return make_error(e, "mapping " + path + " writable: " + std::strerror(e));
    }
    Status st = materialize(file, static_cast<uint8_t*>(map), pool, threads, progress);
    munmap(map, mapped);
    if (!st) unlink(path.c_str());
    return st;
}

bool HugetlbStore::holds(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    return it != entries_.end() && it->second->ok;
}

bool HugetlbStore::touch(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second->ok) return false;
    it->second->resolved = Clock::now();
    return true;
}

uint64_t HugetlbStore::evictions() {
    std::lock_guard lock(mu_);
    return evictions_;
}

HugetlbStore::Clock::duration HugetlbStore::make_room(uint64_t need) {
    const auto now = Clock::now();
    std::vector<std::pair<Clock::time_point, uint64_t>> idle;  // (resolved, id)
    uint64_t freeable = 0;
    for (auto& [id, e] : entries_)
        if (e->ok && e->callers == 0) {
            idle.emplace_back(e->resolved, id);
            freeable += e->footprint;
        }
    if (used_ + need > budget_ + freeable) return Clock::duration::max();
    std::sort(idle.begin(), idle.end());
    for (auto& [resolved, id] : idle) {
        if (used_ + need <= budget_) break;
        if (now - resolved < kGrace) return resolved + kGrace - now;
        unlink((path_ + "/" + std::to_string(id)).c_str());  // a consumer holding it keeps it
        used_ -= entries_[id]->footprint;
        entries_.erase(id);
        ++evictions_;
    }
    return Clock::duration::zero();
}

Result<std::string> HugetlbStore::file(const VirtualFile& vf, WorkerPool& pool, unsigned threads, const Progress& progress,
                                       Eviction eviction) {
    if (!fits(vf.size())) return make_error(EFBIG, "larger than the hugetlbfs budget");
    std::shared_ptr<Entry> e;
    for (;;) {
        std::unique_lock lock(mu_);
        auto it = entries_.find(vf.id());
        if (it == entries_.end()) {
            const uint64_t need = round_up(vf.size());
            const auto wait = eviction == Eviction::Allowed ? make_room(need)
                              : used_ + need <= budget_           ? Clock::duration::zero()
                                                                  : Clock::duration::max();
            if (wait == Clock::duration::max())
                return make_error(ENOSPC, "the hugetlbfs budget (" + std::to_string(budget_ >> 20) + " MiB) is used up");
            if (wait > Clock::duration::zero()) {
                lock.unlock();
                std::this_thread::sleep_for(wait);
                continue;
            }
            used_ += need;
            it = entries_.emplace(vf.id(), std::make_shared<Entry>()).first;
            it->second->footprint = need;
        }
        e = it->second;
        e->callers++;
        break;
    }
    const std::string path = path_for(vf);
    std::call_once(e->once, [&] {
        Status st = fill(vf, path, pool, threads, progress);
        if (!st) e->error = st.error();
        e->ok = st.ok();
    });
    std::lock_guard lock(mu_);
    e->callers--;
    e->resolved = Clock::now();
    if (!e->ok) {
        auto it = entries_.find(vf.id());
        if (it != entries_.end() && it->second == e && e->callers == 0) {
            used_ -= e->footprint;
            entries_.erase(it);
        }
        return e->error;
    }
    return path;
}

}  // namespace wfs

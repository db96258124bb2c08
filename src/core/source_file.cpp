#include "weightfs/source_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "weightfs/beneath.hpp"

namespace wfs {

namespace {
int64_t mtime_ns(const struct stat& st) {
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}
std::mutex stale_mu;  // serialises the one-time write of a stale reason
// O_NONBLOCK: a FIFO found where a regular file was scanned must not hang the open (adopt()
// refuses it); cleared once the file is known to be regular.
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
}  // namespace

Result<std::shared_ptr<SourceFile>> SourceFile::open(const std::string& path, const std::string& rel) {
    int fd = ::open(path.c_str(), kOpenFlags);
    if (fd < 0) return make_error(errno, rel + ": cannot open: " + std::strerror(errno));
    return adopt(fd, path, rel);
}

Result<std::shared_ptr<SourceFile>> SourceFile::open_beneath(const std::string& root, const std::string& rel) {
    auto fd = wfs::open_beneath(root, rel, kOpenFlags);
    if (!fd) return fd.error();
    return adopt(*fd, root + "/" + rel, rel);
}

Result<std::shared_ptr<SourceFile>> SourceFile::adopt(int fd, const std::string& path, const std::string& rel) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        ::close(fd);
        return make_error(EINVAL, rel + ": not a regular file");
    }
    std::shared_ptr<SourceFile> f(new SourceFile());
    f->fd_ = fd;
    f->path_ = path;
    f->rel_ = rel;
    f->size_ = static_cast<uint64_t>(st.st_size);
    f->mode_ = st.st_mode;
    f->mtime_ns_ = mtime_ns(st);
    f->dev_ = st.st_dev;
    f->ino_ = st.st_ino;
    // Sources are read mostly in long sequential runs (chunks); tell the kernel.
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return f;
}

SourceFile::~SourceFile() {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
    if (fd_ >= 0) ::close(fd_);
}

std::string SourceFile::changed() const {
    // By path, not by descriptor: a file replaced (renamed over) or deleted still reads fine
    // through the descriptor, but it is no longer what SOURCE holds.
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0)
        return errno == ENOENT ? std::string("deleted") : std::string("cannot stat: ") + std::strerror(errno);
    if (st.st_dev != dev_ || st.st_ino != ino_) return "replaced by another file";
    if (static_cast<uint64_t>(st.st_size) < size_)
        return "truncated from " + std::to_string(size_) + " to " + std::to_string(st.st_size) + " bytes: offset " +
               std::to_string(st.st_size) + " onwards is gone";
    if (static_cast<uint64_t>(st.st_size) != size_)
        return "size changed from " + std::to_string(size_) + " to " + std::to_string(st.st_size);
    if (mtime_ns(st) != mtime_ns_) return "modified (mtime changed)";
    return {};
}

Status SourceFile::mark_stale(const std::string& why) const {
    std::lock_guard lock(stale_mu);
    if (!stale()) {
        stale_reason_ = why;
        stale_.store(true);
    }
    return stale_error();
}

Status SourceFile::verify() const {
    if (stale()) return stale_error();
    std::string why = changed();
    if (!why.empty()) return mark_stale(why);
    return {};
}

const uint8_t* SourceFile::mapping() const {
    std::call_once(map_once_, [this] {
        if (size_ == 0) return;
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
        if (p != MAP_FAILED) map_ = static_cast<const uint8_t*>(p);
    });
    return map_;
}

void SourceFile::unmap_pages(const uint8_t* at, size_t len) const {
    if (!map_ || at < map_ || at >= map_ + size_) return;
    // The kernel maps the 64 KiB around each page it faults in (fault-around), so the range is
    // widened to that grain; a neighbouring reply on another thread can still map into a range
    // already dropped, so the whole mapping is dropped every 256 MiB sent as well.
    constexpr uintptr_t kGrain = 64 << 10;
    const auto base = reinterpret_cast<uintptr_t>(map_), end = base + size_;
    const auto from = std::max(base, reinterpret_cast<uintptr_t>(at) & ~(kGrain - 1));
    const auto to = std::min(end, (reinterpret_cast<uintptr_t>(at) + len + kGrain - 1) & ~(kGrain - 1));
    ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    if (sent_since_drop_.fetch_add(len, std::memory_order_relaxed) + len >= (256u << 20)) {
        sent_since_drop_.store(0, std::memory_order_relaxed);
        ::madvise(const_cast<uint8_t*>(map_), size_, MADV_DONTNEED);
    }
}

Status SourceFile::stale_error() const {
    return make_error(EIO, rel_ + ": source changed since the mount scanned it (" + stale_reason_ +
                               "); remount to serve the new content");
}

Status SourceFile::read_exact(uint64_t offset, size_t len, void* dst) const {
    if (stale()) return stale_error();
    auto* out = static_cast<char*>(dst);
    size_t done = 0;
    while (done < len) {
        ssize_t n = ::pread(fd_, out + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return make_error(EIO, rel_ + ": read error at offset " + std::to_string(offset + done) + ": " +
                                       std::strerror(errno), offset + done);
        }
        if (n == 0) break;  // short: the file shrank (checked below)
        done += static_cast<size_t>(n);
    }
    // Checked after the read, so bytes read while the file changed are never used.
    WFS_TRY(verify());
    if (done < len)
        return make_error(EIO, rel_ + ": unexpected end of file at offset " + std::to_string(offset + done) +
                                   " (needed " + std::to_string(len - done) + " more bytes)",
                          offset + done);
    return {};
}

}  // namespace wfs

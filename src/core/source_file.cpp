#include "weightfs/source_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace wfs {

Result<std::shared_ptr<SourceFile>> SourceFile::open(const std::string& path, const std::string& rel) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(errno, rel + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        ::close(fd);
        return make_error(e, rel + ": not a regular file");
    }
    std::shared_ptr<SourceFile> f(new SourceFile());
    f->fd_ = fd;
    f->path_ = path;
    f->rel_ = rel;
    f->size_ = static_cast<uint64_t>(st.st_size);
    f->mode_ = st.st_mode;
    f->mtime_ = st.st_mtim.tv_sec;
    // Sources are read mostly in long sequential runs (chunks); tell the kernel.
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return f;
}

SourceFile::~SourceFile() {
    if (fd_ >= 0) ::close(fd_);
}

Status SourceFile::read_exact(uint64_t offset, size_t len, void* dst) const {
    auto* out = static_cast<char*>(dst);
    size_t done = 0;
    while (done < len) {
        ssize_t n = ::pread(fd_, out + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return make_error(EIO, rel_ + ": read error at offset " + std::to_string(offset + done) + ": " +
                                       std::strerror(errno), offset + done);
        }
        if (n == 0)
            return make_error(EIO, rel_ + ": unexpected end of file at offset " + std::to_string(offset + done) +
                                       " (needed " + std::to_string(len - done) + " more bytes; was the file truncated?)",
                              offset + done);
        done += static_cast<size_t>(n);
    }
    return {};
}

}  // namespace wfs

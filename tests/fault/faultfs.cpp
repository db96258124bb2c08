// faultfs: a read-only mirror of a directory whose reads fail with EIO at chosen byte ranges —
// a disk with bad sectors, for testing what weightfs does when its SOURCE cannot be read — or
// are slow there (a disk or network filesystem far slower than memory).
//
//   faultfs SRC MNT NAME:OFFSET:LENGTH[+MS]... [-- FUSE options]
//
// A read of NAME (relative to SRC) that overlaps [OFFSET, OFFSET+LENGTH) fails, or with +MS
// succeeds after MS milliseconds; everything else is served from SRC. Runs in the foreground
// with direct_io, so every read reaches it exactly.
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct BadRange {
    std::string name;  // "/NAME" as FUSE paths are spelled
    off_t offset;
    off_t length;
    long delay_ms;  // 0: the read fails; else it is this slow
};

std::string g_src;
std::vector<BadRange> g_bad;

std::string real(const char* path) { return g_src + path; }

void* on_init(fuse_conn_info*, fuse_config* cfg) {
    cfg->direct_io = 1;
    cfg->use_ino = 0;
    return nullptr;
}

int on_getattr(const char* path, struct stat* st, fuse_file_info*) {
    return lstat(real(path).c_str(), st) == 0 ? 0 : -errno;
}

int on_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
    DIR* d = opendir(real(path).c_str());
    if (!d) return -errno;
    while (dirent* e = readdir(d)) fill(buf, e->d_name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    closedir(d);
    return 0;
}

int on_open(const char* path, fuse_file_info* fi) {
    if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
    int fd = open(real(path).c_str(), O_RDONLY);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    return 0;
}

int on_read(const char* path, char* buf, size_t size, off_t off, fuse_file_info* fi) {
    for (const auto& b : g_bad)
        if (b.name == path && off < b.offset + b.length && b.offset < off + static_cast<off_t>(size)) {
            if (b.delay_ms == 0) return -EIO;
            usleep(static_cast<useconds_t>(b.delay_ms * 1000));
        }
    ssize_t n = pread(static_cast<int>(fi->fh), buf, size, off);
    return n < 0 ? -errno : static_cast<int>(n);
}

int on_release(const char*, fuse_file_info* fi) {
    close(static_cast<int>(fi->fh));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: faultfs SRC MNT NAME:OFFSET:LENGTH... [-- FUSE options]\n");
        return 2;
    }
    g_src = argv[1];
    std::vector<char*> fuse_args{argv[0], argv[2], const_cast<char*>("-f")};
    int i = 3;
    for (; i < argc && std::string(argv[i]) != "--"; ++i) {
        std::string spec = argv[i];
        long delay_ms = 0;
        if (auto plus = spec.rfind('+'); plus != std::string::npos && plus > spec.rfind(':')) {
            delay_ms = std::strtol(spec.substr(plus + 1).c_str(), nullptr, 10);
            spec.resize(plus);
        }
        auto a = spec.rfind(':'), b = spec.rfind(':', a - 1);
        if (a == std::string::npos || b == std::string::npos || b == 0 || delay_ms < 0) {
            std::fprintf(stderr, "faultfs: bad range '%s' (want NAME:OFFSET:LENGTH[+MS])\n", argv[i]);
            return 2;
        }
        g_bad.push_back({"/" + spec.substr(0, b), std::strtoll(spec.substr(b + 1, a - b - 1).c_str(), nullptr, 0),
                         std::strtoll(spec.substr(a + 1).c_str(), nullptr, 0), delay_ms});
    }
    for (++i; i < argc; ++i) fuse_args.push_back(argv[i]);
    fuse_operations ops{};
    ops.init = on_init;
    ops.getattr = on_getattr;
    ops.readdir = on_readdir;
    ops.open = on_open;
    ops.read = on_read;
    ops.release = on_release;
    return fuse_main(static_cast<int>(fuse_args.size()), fuse_args.data(), &ops, nullptr);
}

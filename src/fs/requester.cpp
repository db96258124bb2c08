#include "fs/requester.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace wfs {

PathUse path_use(pid_t tid) {
    if (tid <= 0) return PathUse::Unknown;
    // /proc/TID/syscall: "NR ARG1 … ARG6 SP PC" (arguments in hex) while the thread is blocked
    // in a call — as it is, waiting for this request — or "running"; readable by root and by the
    // thread's owner.
    const std::string path = "/proc/" + std::to_string(tid) + "/syscall";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PathUse::Unknown;
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return PathUse::Unknown;
    buf[n] = '\0';
    return path_use_of(buf);
}

PathUse path_use_of(const char* line) {
    const char* at = line;
    char* end = nullptr;
    const long nr = std::strtol(at, &end, 10);
    if (end == at || nr < 0) return PathUse::Unknown;
    uint64_t args[6] = {};
    at = end;
    for (uint64_t& a : args) {
        a = std::strtoull(at, &end, 16);  // accepts the "0x" prefix
        if (end == at) return PathUse::Unknown;
        at = end;
    }
    // O_PATH: a handle for *at() calls and fstat, never read through.
    auto open_with = [](uint64_t flags) {
        return flags & O_PATH ? PathUse::Other : flags & O_DIRECT ? PathUse::OpenDirect : PathUse::Open;
    };
    switch (nr) {
#ifdef SYS_open
        case SYS_open: return open_with(args[1]);
#endif
#ifdef SYS_creat
        case SYS_creat: return PathUse::Open;
#endif
        case SYS_openat: return open_with(args[2]);
        case SYS_openat2:  // flags sit in the caller's struct open_how: taken as a plain open
        case SYS_execve:
        case SYS_execveat: return PathUse::Open;
        default: return PathUse::Other;
    }
}

}  // namespace wfs

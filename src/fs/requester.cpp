#include "fs/requester.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace wfs {

bool reading_link_text(pid_t tid) {
    if (tid <= 0) return false;
    // /proc/TID/syscall: the number of the call the thread is blocked in, then its arguments
    // (or "running"); readable by root and by the thread's owner.
    const std::string path = "/proc/" + std::to_string(tid) + "/syscall";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[64];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    char* end = nullptr;
    const long nr = std::strtol(buf, &end, 10);
    if (end == buf) return false;
#ifdef SYS_readlink
    if (nr == SYS_readlink) return true;
#endif
    return nr == SYS_readlinkat;
}

}  // namespace wfs

// path_use: what a FUSE request's thread is doing, read from /proc/TID/syscall while it is
// blocked — here a thread of this test, blocked in a known call.
#include "fs/requester.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <chrono>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

namespace wfs {
namespace {

// Runs `call` on a thread that first blocks it on a FIFO (so the call is in progress while the
// FIFO has no writer): `call` opens or stats or reads the link at the FIFO's path. Returns what
// path_use() saw while the thread was blocked.
PathUse seen_while_blocked(const std::function<void(const char*)>& call) {
    char dir[] = "/tmp/wfs-requester-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    const std::string fifo = std::string(dir) + "/fifo";
    EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::atomic<pid_t> tid{0};
    std::thread t([&] {
        tid = static_cast<pid_t>(syscall(SYS_gettid));
        call(fifo.c_str());  // blocks until the FIFO gets a writer, when it is an open
    });
    while (tid == 0) std::this_thread::yield();
    PathUse use = PathUse::Unknown;
    for (int i = 0; i < 200; ++i) {  // until the thread is inside the call
        use = path_use(tid);
        if (use != PathUse::Other && use != PathUse::Unknown) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // releases a reader blocked in open
    t.join();
    if (w >= 0) close(w);
    unlink(fifo.c_str());
    rmdir(dir);
    return use;
}

TEST(Requester, AnOpenIsToldFromAnOpenWithODirect) {
    EXPECT_EQ(seen_while_blocked([](const char* p) { int fd = open(p, O_RDONLY); if (fd >= 0) close(fd); }), PathUse::Open);
    EXPECT_EQ(seen_while_blocked([](const char* p) {
                  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, p, O_RDONLY | O_DIRECT));
                  if (fd >= 0) close(fd);
              }),
              PathUse::OpenDirect);
}

TEST(Requester, TheSyscallLineIsReadStrictly) {
    auto line = [](long nr, uint64_t a1, uint64_t a2, uint64_t a3) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%ld 0x%llx 0x%llx 0x%llx 0x0 0x0 0x0 0x7ffd5ef0 0x7f1234", nr,
                      static_cast<unsigned long long>(a1), static_cast<unsigned long long>(a2), static_cast<unsigned long long>(a3));
        return std::string(buf);
    };
    const uint64_t dirfd = static_cast<uint32_t>(AT_FDCWD), path = 0x55550000;
    EXPECT_EQ(path_use_of(line(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC).c_str()), PathUse::Open);
    EXPECT_EQ(path_use_of(line(SYS_openat, dirfd, path, O_RDONLY | O_DIRECT).c_str()), PathUse::OpenDirect);
    EXPECT_EQ(path_use_of(line(SYS_openat, dirfd, path, O_PATH | O_NOFOLLOW).c_str()), PathUse::Other);  // never read through
#ifdef SYS_open
    EXPECT_EQ(path_use_of(line(SYS_open, path, O_RDONLY | O_DIRECT, 0).c_str()), PathUse::OpenDirect);
#endif
    EXPECT_EQ(path_use_of(line(SYS_execve, path, 0, 0).c_str()), PathUse::Open);
    EXPECT_EQ(path_use_of(line(SYS_statx, dirfd, path, 0).c_str()), PathUse::Other);
    EXPECT_EQ(path_use_of(line(SYS_readlinkat, dirfd, path, 0x7000).c_str()), PathUse::Other);
    EXPECT_EQ(path_use_of("running"), PathUse::Unknown);
    EXPECT_EQ(path_use_of("-1 0x7ffd5ef0 0x7f1234"), PathUse::Unknown);  // blocked, but not in a call
    EXPECT_EQ(path_use_of("257 0x3 0x55"), PathUse::Unknown);            // cut short
    EXPECT_EQ(path_use_of(""), PathUse::Unknown);
}

TEST(Requester, ThisThreadIsNotOpeningAndAGoneThreadCannotBeTold) {
    // The caller itself is "running" (reading its own /proc file is a read, not a path use).
    EXPECT_EQ(path_use(static_cast<pid_t>(syscall(SYS_gettid))), PathUse::Other);
    EXPECT_EQ(path_use(0), PathUse::Unknown);
    EXPECT_EQ(path_use(-1), PathUse::Unknown);
    EXPECT_EQ(path_use(0x3fffffff), PathUse::Unknown);  // beyond pid_max
}

}  // namespace
}  // namespace wfs

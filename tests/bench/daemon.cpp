#include "daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bench {

namespace {
bool is_mounted(const std::string& mnt) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mi, line))
        if (line.find(" " + mnt + " ") != std::string::npos && line.find("fuse.weightfs") != std::string::npos) return true;
    return false;
}
}  // namespace

Daemon start_daemon(const std::string& weightfs, const std::string& src, const std::string& mnt, const std::string& opts) {
    auto t0 = std::chrono::steady_clock::now();
    Daemon d{fork(), mnt, 0};
    if (d.pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(weightfs.c_str(), "weightfs", src.c_str(), mnt.c_str(), "-f", "-o", opts.c_str(), nullptr);
        _exit(127);
    }
    for (int i = 0; i < 20000 && !is_mounted(mnt); ++i) std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (!is_mounted(mnt)) {
        kill(d.pid, SIGKILL);
        waitpid(d.pid, nullptr, 0);
        throw std::runtime_error("weightfs did not mount on " + mnt + " within 10 s (-o " + opts + ")");
    }
    d.mount_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return d;
}

void stop_daemon(Daemon& d) {
    std::string cmd = "fusermount3 -u '" + d.mnt + "'";
    if (std::system(cmd.c_str()) != 0) kill(d.pid, SIGTERM);
    int st;
    waitpid(d.pid, &st, 0);
}

std::map<std::string, std::string> status_of(const std::string& mnt) {
    std::ifstream in(mnt + "/.weightfs/status");
    std::map<std::string, std::string> m;
    std::string line;
    while (std::getline(in, line)) {
        auto c = line.find(": ");
        if (c != std::string::npos) m.emplace(line.substr(0, c), line.substr(c + 2));
    }
    return m;
}

uint64_t rss_kib(pid_t pid) {
    // VmRSS less RssShmem: the shared memory the daemon maps is the backing tmpfs file it is
    // filling for passthrough (a file made ahead may still be in flight when this is read),
    // which counts against its own budget, not the daemon's.
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string k;
    uint64_t v = 0, rss = 0, shmem = 0;
    while (in >> k) {
        if (k == "VmRSS:" && in >> v) rss = v;
        else if (k == "RssShmem:" && in >> v) shmem = v;
        in.ignore(4096, '\n');
    }
    return rss - std::min(rss, shmem);
}

double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return 0;
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::atof(field.c_str());
        if (i == 15) stime = std::atof(field.c_str());
    }
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace bench

// The benchmark's weightfs daemons: started in the foreground (so their pid is the daemon),
// waited for until mounted, asked for status, measured (RSS, CPU time), unmounted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace bench {

struct Daemon {
    pid_t pid = -1;
    std::string mnt;
    double mount_seconds = 0;  // from exec to the mount being live
};

Daemon start_daemon(const std::string& weightfs, const std::string& src, const std::string& mnt, const std::string& opts);
void stop_daemon(Daemon& d);
std::map<std::string, std::string> status_of(const std::string& mnt);
uint64_t rss_kib(pid_t pid);  // resident memory, less the shared memory it maps (backing files)
double cpu_seconds(pid_t pid);  // user + system

}  // namespace bench

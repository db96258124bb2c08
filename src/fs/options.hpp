// Command line and -o options (DESIGN §3): weightfs SOURCE MOUNTPOINT [-o opt,…] [-f] [-d] [-s].
// One table of weightfs options; kernel/libfuse mount options are passed through; what mount(8),
// mount.fuse3 and systemd hand along from fstab is accepted and dropped; anything else is an
// error naming the option.
#pragma once

#include <string>
#include <vector>

#include "weightfs/engine.hpp"

namespace wfs {

// Distinct exit codes for distinct start-up failures.
enum ExitCode : int {
    kExitOk = 0,
    kExitUsage = 1,        // bad command line or option
    kExitSource = 2,       // SOURCE unusable
    kExitMountpoint = 3,   // MOUNTPOINT unusable
    kExitMount = 4,        // the kernel mount failed
    kExitCache = 5,        // cache/hugepage/NUMA set-up failed after mounting
};

struct Options {
    std::string source, mountpoint;  // as given; resolved by the daemon
    bool foreground = false, debug = false, single_thread = false;
    bool direct_io = false;
    bool help = false, version = false;
    std::vector<std::string> mount_opts;  // passed to libfuse / the kernel
    EngineConfig engine;
};

Result<Options> parse_options(int argc, char** argv);
std::string usage_text();

}  // namespace wfs

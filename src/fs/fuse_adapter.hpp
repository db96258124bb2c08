// The FUSE adapter: libfuse's low-level ops over the Engine. Every op answers exactly once;
// no exception crosses into libfuse; every write-type request gets EROFS.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <map>
#include <mutex>
#include <set>

#include "weightfs/engine.hpp"

namespace wfs {

struct AdapterConfig {
    bool direct_io = false;
    uid_t uid = 0;
    gid_t gid = 0;
};

struct AdapterState {
    Engine* engine;
    AdapterConfig config;
    bool passthrough = false;  // negotiated with the kernel in init
    std::mutex backing_mu;     // guards backing (leaf lock)
    std::map<uint64_t, std::pair<int, unsigned>> backing;  // ino → (backing id, opens): one id per node
    std::mutex handles_mu;     // guards handles (leaf lock)
    std::set<void*> handles;   // open file handles, freed at shutdown if the kernel never released them
};

// Frees the handles of files still open when the session ended (no RELEASE comes after that).
void release_open_handles(AdapterState& state);

const fuse_lowlevel_ops& fuse_ops();

}  // namespace wfs

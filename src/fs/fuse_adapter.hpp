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
    Engine* engine = nullptr;
    AdapterConfig config;
    bool passthrough = false;  // negotiated with the kernel in init
    std::mutex backing_mu;     // guards backing (taken before the engine's backing store lock)
    struct Passthrough {
        int id = 0;          // the kernel's backing id: one per node while it is open
        unsigned opens = 0;
        std::string how;     // materialized, or the source itself
        bool held = false;   // a backing tmpfs file, released to the engine with the id
    };
    std::map<uint64_t, Passthrough> backing;  // ino → its backing while open
    // ino → its opens served lazily: the kernel keeps one io mode per inode (a passthrough open
    // while a cached one is open, or the reverse, fails with EIO), so while these last, new
    // opens of the file are served lazily too.
    std::map<uint64_t, unsigned> lazy_opens;
    std::mutex handles_mu;     // guards handles (leaf lock)
    std::set<void*> handles;   // open file handles, freed at shutdown if the kernel never released them
    fuse_session* session = nullptr;  // for notifications (libfuse 3.14 cannot get it from a request)
    // The FUSE bdi's read_ahead_kb and the value it should hold. Written at the first open: the
    // kernel clamps it to the INIT reply's max_readahead (128 KiB) when it processes INIT, so a
    // value written at mount time is undone; any later request means INIT is done.
    std::string readahead_path;
    uint64_t readahead_kb = 0;
    std::once_flag readahead_once;
};

// Frees the handles of files still open when the session ended (no RELEASE comes after that).
void release_open_handles(AdapterState& state);

const fuse_lowlevel_ops& fuse_ops();

}  // namespace wfs

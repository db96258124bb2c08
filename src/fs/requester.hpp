// Requester: what the thread behind a FUSE request is doing, where the protocol does not say.
#pragma once

#include <sys/types.h>

namespace wfs {

// Whether thread `tid` is inside readlink(2) or readlinkat(2) — reading a link's text (`ls -l`,
// realpath) rather than following it (open, stat, exec), which the kernel sends as the same
// READLINK request. False when it cannot be told (a thread gone, no permission, a kernel thread).
bool reading_link_text(pid_t tid);

}  // namespace wfs

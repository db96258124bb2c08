// Opening a path under SOURCE so that what is reached lies inside it, whatever a link or
// directory on the way became since the catalog looked at it: a user who can write in SOURCE
// must not swap in a link that leads the daemon — root, usually — to a file or directory they
// cannot read themselves, whose bytes or names a view would then show them.
#pragma once

#include <string>

#include "weightfs/result.hpp"

namespace wfs {

// Opens `rel` ("" for `root` itself) with open(2) `flags`, resolved by the kernel beneath the
// directory `root` (openat2 RESOLVE_BENEATH: no step may leave it). A link given as an absolute
// path inside root, which that refuses, is resolved first and opened the same way. EXDEV when
// the path leads out of root (the message names no outside path). Kernels before 5.6, or a
// seccomp filter that does not know openat2, get a plain open.
Result<int> open_beneath(const std::string& root, const std::string& rel, int flags);

}  // namespace wfs

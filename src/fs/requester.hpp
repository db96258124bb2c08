// Requester: what the thread behind a FUSE request is doing, where the protocol does not say.
// The kernel sends the same READLINK whether a program opens a path through a symlink, stats
// it, or reads the link's text (`ls -l`); serve=hugetlb materializes a file only for the first.
#pragma once

#include <sys/types.h>

namespace wfs {

enum class PathUse {
    Open,        // open(2), openat(2), openat2(2), creat(2), execve(2): the file is about to be used
    OpenDirect,  // an open with O_DIRECT (hugetlbfs refuses those)
    Other,       // stat, readlink, access, getxattr, an O_PATH open, …: only names or metadata are wanted
    Unknown,     // cannot be told: a thread gone, no permission, a kernel thread
};

// What thread `tid` (a FUSE request's pid) is doing with the path, from /proc/TID/syscall.
PathUse path_use(pid_t tid);
// The same from the text of such a file: "NR ARG1 … ARG6 SP PC" (arguments in hex), or "running".
PathUse path_use_of(const char* syscall_line);

}  // namespace wfs

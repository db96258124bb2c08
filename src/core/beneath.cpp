#include "weightfs/beneath.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace wfs {

Result<int> open_beneath(const std::string& root, const std::string& rel, int flags) {
    const std::string path = rel.empty() ? root : root + "/" + rel;
    int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return make_error(errno, root + ": cannot open: " + std::strerror(errno));
    auto beneath = [dir, flags](const std::string& r) {
        open_how how {};
        how.flags = static_cast<uint64_t>(flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        return static_cast<int>(syscall(SYS_openat2, dir, r.empty() ? "." : r.c_str(), &how, sizeof how));
    };
    int fd = beneath(rel);
    if (fd < 0 && errno == EXDEV) {  // it leads out of root, or through a link given as an absolute path
        char resolved[PATH_MAX];
        const std::string prefix = root.back() == '/' ? root : root + "/";
        if (realpath(path.c_str(), resolved)) {
            const std::string r = resolved;
            if (r == root) fd = beneath("");
            else if (r.size() > prefix.size() && r.compare(0, prefix.size(), prefix) == 0) fd = beneath(r.substr(prefix.size()));
        }
        if (fd < 0) {
            ::close(dir);
            return make_error(EXDEV, rel + ": leads out of SOURCE; not opened");
        }
    } else if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        fd = ::open(path.c_str(), flags);
    }
    const int e = errno;
    ::close(dir);
    if (fd < 0) return make_error(e, rel + ": cannot open: " + std::strerror(e));
    return fd;
}

}  // namespace wfs

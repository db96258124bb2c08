#include "fs/daemon.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <sstream>

#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "fs/fuse_adapter.hpp"

namespace wfs {

namespace {

void fuse_log_to_spdlog(enum fuse_log_level level, const char* fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    std::string msg = buf;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    if (level <= FUSE_LOG_ERR) spdlog::error("libfuse: {}", msg);
    else if (level <= FUSE_LOG_NOTICE) spdlog::info("libfuse: {}", msg);
    else spdlog::debug("libfuse: {}", msg);
}

// fsname=SOURCE with commas escaped, as fuse_opt parses it.
std::string escape_commas(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == ',' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

bool has_opt(const std::vector<std::string>& opts, const std::string& key) {
    for (const auto& o : opts)
        if (o == key || o.rfind(key + "=", 0) == 0) return true;
    return false;
}

// The FUSE bdi of the mount at `mountpoint` ("/sys/class/bdi/MAJ:MIN/read_ahead_kb"), or "".
std::string readahead_path(const std::string& mountpoint) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line, devno;
    while (std::getline(mi, line)) {
        std::istringstream ls(line);
        std::string id, parent, dev, root, mnt;
        ls >> id >> parent >> dev >> root >> mnt;
        if (mnt == mountpoint) devno = dev;  // the last match is the newest mount
    }
    return devno.empty() ? "" : "/sys/class/bdi/" + devno + "/read_ahead_kb";
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// Start-up report from the daemonized child to the waiting parent: exit code + message.
void report(int fd, int code, const std::string& msg) {
    if (fd < 0) return;
    std::string m = std::to_string(code) + "\n" + msg;
    (void)!write(fd, m.data(), m.size());
    close(fd);
}

int wait_for_child(int fd) {
    std::string buf;
    char tmp[512];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0) buf.append(tmp, static_cast<size_t>(n));
    if (buf.empty()) {
        std::fprintf(stderr, "weightfs: the daemon died during start-up\n");
        return kExitCache;
    }
    auto nl = buf.find('\n');
    int code = std::atoi(buf.substr(0, nl).c_str());
    std::string msg = nl == std::string::npos ? "" : buf.substr(nl + 1);
    if (!msg.empty()) std::fprintf(stderr, "weightfs: %s\n", msg.c_str());
    return code;
}

}  // namespace

int run_daemon(const Options& opt) {
    spdlog::set_level(opt.debug ? spdlog::level::debug : spdlog::level::info);
    fuse_set_log_func(fuse_log_to_spdlog);
    raise_fd_limit();

    char real_src[PATH_MAX], real_mnt[PATH_MAX];
    struct stat st {};
    if (!realpath(opt.source.c_str(), real_src) || stat(real_src, &st) != 0 || !S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "weightfs: SOURCE '%s': %s\n", opt.source.c_str(),
                     errno ? std::strerror(errno) : "not a directory");
        return kExitSource;
    }
    if (access(real_src, R_OK | X_OK) != 0) {
        std::fprintf(stderr, "weightfs: SOURCE '%s': %s\n", opt.source.c_str(), std::strerror(errno));
        return kExitSource;
    }
    errno = 0;
    if (!realpath(opt.mountpoint.c_str(), real_mnt) || stat(real_mnt, &st) != 0 || !S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "weightfs: MOUNTPOINT '%s': %s\n", opt.mountpoint.c_str(),
                     errno ? std::strerror(errno) : "not a directory");
        return kExitMountpoint;
    }
    spdlog::info("weightfs {} starting: SOURCE {} MOUNTPOINT {}", WEIGHTFS_VERSION, real_src, real_mnt);

    EngineConfig ec = opt.engine;
    ec.source = real_src;
    ec.fuse_threads = opt.single_thread ? 1 : 10;
    // With direct_io the kernel keeps no copy, so the chunk cache is what makes a second read hot.
    if (ec.verbatim == Verbatim::Auto) ec.verbatim = opt.direct_io ? Verbatim::Cached : Verbatim::Mapped;
    auto engine = Engine::create(ec);
    if (!engine) {
        std::fprintf(stderr, "weightfs: %s\n", engine.error().message.c_str());
        return kExitSource;
    }

    // Mount options: the user's pass-through options, then read-only and our identity last.
    std::string mo;
    for (const auto& o : opt.mount_opts) mo += o + ",";
    mo += "ro,default_permissions";
    if (!has_opt(opt.mount_opts, "fsname")) mo += ",fsname=" + escape_commas(real_src);
    if (!has_opt(opt.mount_opts, "subtype")) mo += ",subtype=weightfs";
    std::vector<std::string> args{"weightfs", "-o", mo};
    if (opt.debug) args.push_back("-d");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

    AdapterState adapter;
    adapter.engine = engine->get();
    adapter.config = {opt.direct_io, getuid(), getgid()};
    fuse_session* se = fuse_session_new(&fargs, &fuse_ops(), sizeof(fuse_lowlevel_ops), &adapter);
    fuse_opt_free_args(&fargs);  // libfuse may have grown the argument list
    adapter.session = se;
    if (!se) {
        std::fprintf(stderr, "weightfs: invalid mount options: %s\n", mo.c_str());
        return kExitUsage;
    }
    if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, real_mnt) != 0) {
        std::fprintf(stderr, "weightfs: cannot mount on %s\n", real_mnt);
        fuse_session_destroy(se);
        return kExitMount;
    }
    adapter.readahead_path = readahead_path(real_mnt);
    adapter.readahead_kb = std::max<uint64_t>(4096, ec.chunk_size >> 10);

    int report_fd = -1;
    if (!opt.foreground) {
        int pipefd[2];
        if (pipe(pipefd) != 0) {
            fuse_session_unmount(se);
            return kExitMount;
        }
        pid_t pid = fork();
        if (pid < 0) {
            fuse_session_unmount(se);
            return kExitMount;
        }
        if (pid > 0) {
            close(pipefd[1]);
            return wait_for_child(pipefd[0]);  // the parent exits with the child's start-up status
        }
        close(pipefd[0]);
        report_fd = pipefd[1];
        setsid();
        (void)!chdir("/");
        auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("weightfs", LOG_PID, LOG_DAEMON, false);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("weightfs", sink));
        spdlog::set_level(opt.debug ? spdlog::level::debug : spdlog::level::info);
    }

    // Child (or foreground): reserve the cache and start threads now that no fork follows.
    // Mounted from here on: nothing may leave without unmounting.
    Status started = [&]() -> Status {
        try {
            return (*engine)->start();
        } catch (const std::exception& e) {
            return make_error(ENOMEM, std::string("internal error: ") + e.what());
        }
    }();
    if (!started) {
        spdlog::error("cache set-up failed: {}", started.error().message);
        if (opt.foreground) std::fprintf(stderr, "weightfs: %s\n", started.error().message.c_str());
        report(report_fd, kExitCache, started.error().message);
        fuse_session_unmount(se);
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        return kExitCache;
    }
    if (report_fd >= 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (devnull > 2) close(devnull);
        }
        report(report_fd, kExitOk, "");
    }
    spdlog::info("serving {} on {}", real_src, real_mnt);

    int rc;
    if (opt.single_thread) {
        rc = fuse_session_loop(se);
    } else {
        fuse_loop_config* lc = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(lc, 0);
        fuse_loop_cfg_set_idle_threads(lc, 10);
        rc = fuse_session_loop_mt(se, lc);
        fuse_loop_cfg_destroy(lc);
    }
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    release_open_handles(adapter);
    engine->reset();  // frees the arena and gives back reserved hugepages
    spdlog::info("unmounted {}; exiting", real_mnt);
    return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? kExitOk : kExitMount;
}

}  // namespace wfs

// weightfs: argv → options → daemon.
#include <cstdio>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <cstring>
#include <exception>

#include "fs/daemon.hpp"
#include "fs/report.hpp"
#include "fs/options.hpp"

int main(int argc, char** argv) {
    // `weightfs status MNT` / `weightfs models MNT`: reports of a mounted weightfs.
    if (argc == 3 && (std::strcmp(argv[1], "status") == 0 || std::strcmp(argv[1], "models") == 0))
        return wfs::run_report(argv[1], argv[2]);
    auto opt = wfs::parse_options(argc, argv);
    if (!opt) {
        std::fprintf(stderr, "weightfs: %s\n", opt.error().message.c_str());
        return wfs::kExitUsage;
    }
    if (opt->help) {
        std::fputs(wfs::usage_text().c_str(), stdout);
        return 0;
    }
    if (opt->version) {
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
        const char* passthrough = "yes";
#else
        const char* passthrough = "no (needs libfuse >= 3.17.1)";
#endif
        std::printf("weightfs %s\nlibfuse %s, passthrough: %s\n", WEIGHTFS_VERSION, fuse_pkgversion(), passthrough);
        return 0;
    }
    try {
        return wfs::run_daemon(*opt);
    } catch (const std::exception& e) {  // before the mount (after it, every path is caught inside)
        std::fprintf(stderr, "weightfs: internal error: %s\n", e.what());
        return wfs::kExitSource;
    }
}

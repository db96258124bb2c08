// weightfs: argv → options → daemon.
#include <cstdio>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs/daemon.hpp"
#include "fs/options.hpp"

int main(int argc, char** argv) {
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
    return wfs::run_daemon(*opt);
}

// weightfs: argv → options → daemon.
#include <cstdio>

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
        std::printf("weightfs %s\n", WEIGHTFS_VERSION);
        return 0;
    }
    return wfs::run_daemon(*opt);
}

// Daemon start-up: validate → scan → mount → daemonize → reserve the cache and start threads →
// serve → unmount and give everything back. Forking after reserving hugepages would lose them,
// so the child reserves them and reports success or failure to the waiting parent, which exits
// with that status: mount(8) and systemd see the real outcome.
#pragma once

#include "fs/options.hpp"

namespace wfs {

int run_daemon(const Options& options);

}  // namespace wfs

// `weightfs status MNT` and `weightfs models MNT`: readable reports made from the live control
// files .weightfs/status and .weightfs/models of a mounted weightfs.
#pragma once

namespace wfs {

// Returns the exit code: 0, or 2 when MNT is not a weightfs mount.
int run_report(const char* command, const char* mountpoint);

}  // namespace wfs

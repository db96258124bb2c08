#include "fs/report.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace wfs {

namespace {

std::string human(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

int status(const std::string& mnt) {
    std::ifstream in(mnt + "/.weightfs/status");
    if (!in) {
        std::fprintf(stderr, "weightfs status: %s is not a weightfs mount (no .weightfs/status)\n", mnt.c_str());
        return 2;
    }
    std::map<std::string, std::string> kv;
    std::vector<std::string> open, making, links;  // the lines that repeat
    std::string line;
    while (std::getline(in, line)) {
        auto c = line.find(": ");
        if (c == std::string::npos) continue;
        std::string k = line.substr(0, c), v = line.substr(c + 2);
        if (k == "open") open.push_back(v);
        else if (k == "materializing") making.push_back(v);
        else if (k == "symlink") links.push_back(v);
        else kv.emplace(k, v);
    }
    auto num = [&](const char* k) { return std::strtod(kv[k].c_str(), nullptr); };
    const double hits = num("hits"), misses = num("misses"), waits = num("waits");
    std::printf("weightfs %s on %s (SOURCE %s), up %s s\n", kv["version"].c_str(), mnt.c_str(), kv["source"].c_str(),
                kv["uptime_s"].c_str());
    std::printf("cache     %s of %s used, %s chunks of %s\n", human(num("cache_used")).c_str(),
                human(num("cache_budget")).c_str(), kv["chunks"].c_str(), human(num("chunk_size")).c_str());
    std::printf("pages     %s (%s), %s hugepages reserved\n", kv["page_kind"].c_str(), kv["page_note"].c_str(),
                kv["hugepages_reserved"].c_str());
    std::printf("numa      %s\n", kv["numa"].c_str());
    std::printf("serve     %s\n", kv["serve"].c_str());
    std::printf("hit rate  %.1f%%  (%.0f hits, %.0f waits on a fill, %.0f misses)\n",
                hits + waits + misses > 0 ? 100.0 * (hits + waits) / (hits + waits + misses) : 0.0, hits, waits, misses);
    std::printf("fill      %s GB/s  (%s fills, %s, %s errors)\n", kv["fill_GBps"].c_str(), kv["fills"].c_str(),
                human(num("fill_bytes")).c_str(), kv["fill_errors"].c_str());
    std::printf("reads     %s requests, %s, %s GB/s on average, %s errors\n", kv["read_requests"].c_str(),
                human(num("read_bytes")).c_str(), kv["read_GBps_avg"].c_str(), kv["read_errors"].c_str());
    std::printf("preload   %s\n", kv["preload"].c_str());
    std::printf("open      %s file(s)\n", kv["open_files"].c_str());
    for (auto& o : open) std::printf("          %s\n", o.c_str());
    if (!making.empty()) std::printf("making    %zu file(s)\n", making.size());
    for (auto& m : making) std::printf("          %s\n", m.c_str());
    if (!links.empty()) std::printf("links     %zu resolved (serve=hugetlb)\n", links.size());
    for (auto& l : links) std::printf("          %s\n", l.c_str());
    return 0;
}

int models(const std::string& mnt) {
    std::ifstream in(mnt + "/.weightfs/models");
    if (!in) {
        std::fprintf(stderr, "weightfs models: %s is not a weightfs mount (no .weightfs/models)\n", mnt.c_str());
        return 2;
    }
    std::map<std::string, std::vector<std::string>> shown;
    std::vector<std::string> skipped;
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream ss(line);
        for (std::string x; std::getline(ss, x, '\t');) f.push_back(x);
        if (f.size() >= 4 && f[0] == "shown") {
            std::string view = f[1].substr(0, f[1].find('/'));
            shown[view].push_back(human(std::strtod(f[2].c_str(), nullptr)) + "\t" + f[1] + "  (" + f[3] + ")");
        } else if (f.size() >= 5 && f[0] == "skipped") {
            skipped.push_back(f[1] + ": " + f[2] + " at offset " + f[3] + ": " + f[4]);
        }
    }
    for (auto& [view, files] : shown) {
        std::printf("%s/  %zu file(s)\n", view.c_str(), files.size());
        for (auto& f : files) std::printf("  %s\n", f.c_str());
    }
    std::printf("skipped  %zu\n", skipped.size());
    for (auto& s : skipped) std::printf("  %s\n", s.c_str());
    return 0;
}

}  // namespace

int run_report(const char* command, const char* mountpoint) {
    return std::string(command) == "status" ? status(mountpoint) : models(mountpoint);
}

}  // namespace wfs

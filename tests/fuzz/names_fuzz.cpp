// libFuzzer: shard-, split-set and part-set naming (file names from hostile directories).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "transforms/part_names.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string s(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> names;
    for (size_t start = 0, nl; start <= s.size(); start = nl + 1) {
        nl = s.find('\n', start);
        if (nl == std::string::npos) nl = s.size();
        names.push_back(s.substr(start, nl - start));
        (void)wfs::parse_split_name(names.back());
        if (auto shard = wfs::parse_shard_name(names.back()))  // spelled back exactly as it was written
            if (wfs::shard_name(*shard, shard->index) != names.back()) __builtin_trap();
        (void)wfs::parse_part_name(names.back());
    }
    std::map<std::string, std::string> problems;
    (void)wfs::plan_part_sets(names, problems);
    return 0;
}

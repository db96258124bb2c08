// Names of multi-file sets: gguf-split shards (`<prefix>-%05d-of-%05d.gguf`) and raw part sets
// joined by `cat`: `NAME.partKofN`, `NAME.001…` (numeric, one width), `NAME.aa…` (split(1)).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wfs {

// Whether `s` is one or more ASCII digits (the numbers in file, tensor and option names).
bool all_digits(std::string_view s);

// Any shard of a numbered set: PREFIX-<K>-of-<N>SUFFIX, K and N decimal (up to 9 digits), K
// written in a fixed width — "model-00002-of-00163.safetensors", "x-3-of-12.bin".
struct ShardName {
    std::string prefix;  // before "-K-of-N"
    std::string suffix;  // after N
    uint32_t index = 0, count = 0;
    size_t index_width = 0, count_width = 0;
};
std::optional<ShardName> parse_shard_name(const std::string& filename);
// The name of shard `index` of the same set, spelled the same way; nullopt when it needs more
// digits than the set's width.
std::optional<std::string> shard_name(const ShardName& set, uint32_t index);

// gguf-split's shards: a ShardName with five-digit numbers, ".gguf", 1 <= K <= N.
struct SplitName {
    std::string prefix;  // everything before "-0000K-of-0000N.gguf"
    uint32_t index = 0;  // 1-based, as in the name
    uint32_t count = 0;
};
std::optional<SplitName> parse_split_name(const std::string& filename);
std::string split_name(const std::string& prefix, uint32_t index, uint32_t count);

enum class PartScheme { PartKofN, Numeric, Alpha };

struct PartName {
    std::string base;     // the joined file's name
    PartScheme scheme;
    std::string suffix;   // the part's ordering key as written (digits or letters)
    uint64_t order = 0;   // numeric position (partK: K; numeric: value; alpha: base-26 value)
    uint32_t count = 0;   // partKofN only: N
};
std::optional<PartName> parse_part_name(const std::string& filename);

// Groups candidate part names of one directory into complete sets. Returns the ordered member
// names of each complete set keyed by joined name; incomplete groups go to `problems`
// (filename → reason).
struct PartSetPlan {
    std::string base;
    PartScheme scheme;
    std::vector<std::string> members;  // in join order
};
std::vector<PartSetPlan> plan_part_sets(const std::vector<std::string>& filenames,
                                        std::map<std::string, std::string>& problems);

}  // namespace wfs

// The bytes `llama-gguf-split --merge` writes for a shard set (reference/gguf.md §2.4):
//   metadata = "GGUF" v3 | Σ tensors | n_kv(shard 1) | shard 1's KVs with split.count → u16 0
//              (mainline: moved to the end; ik: kept in place) | every shard's tensor infos in
//              order, offsets re-packed at 32, n_dims normalized | zero pad to 32
//   data     = each tensor's payload from its shard, zero padded to 32.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/gguf.hpp"

namespace wfs::gguf {

enum class MergeOrder { Mainline, Ik };

struct MergedTensor {
    size_t shard = 0;         // index into the shard list
    uint64_t src_offset = 0;  // absolute offset of the payload in that shard
    uint64_t nbytes = 0;
    uint64_t padded = 0;      // PAD(nbytes, 32)
};

struct MergedGguf {
    std::vector<uint8_t> metadata;  // already padded to 32
    std::vector<TensorInfo> tensors;  // merged tensor infos (offsets relative to the data section)
    std::vector<MergedTensor> spans;  // where each tensor's payload comes from
    std::vector<KeyValue> kv;         // the merged KVs, in output order
    uint64_t size = 0;                // total file size
};

// Validates a shard set (split.count u16 == shards, split.no == index, alignment 32 everywhere)
// and builds the merged layout. `names` are the shard names for messages.
Result<MergedGguf> merge_split(const std::vector<const Header*>& shards, const std::vector<std::string>& names,
                               MergeOrder order);

}  // namespace wfs::gguf

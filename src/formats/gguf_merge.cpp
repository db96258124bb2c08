#include "formats/gguf_merge.hpp"

#include <cstring>
#include <unordered_set>

namespace wfs::gguf {

namespace {
Error shard_error(const std::string& name, const std::string& what) { return make_error(EINVAL, name + ": " + what); }
}  // namespace

Result<MergedGguf> merge_split(const std::vector<const Header*>& shards, const std::vector<std::string>& names,
                               MergeOrder order) {
    if (shards.empty()) return make_error(EINVAL, "empty shard set");
    const Header& first = *shards[0];
    const KeyValue* count = first.find("split.count");
    if (!count) return shard_error(names[0], "no split.count key (not a gguf-split shard)");
    if (count->type != UINT16) return shard_error(names[0], "split.count is not a u16 (gguf-split would abort)");
    uint16_t n_split = 0;
    std::memcpy(&n_split, count->value.data(), 2);
    if (n_split != shards.size())
        return shard_error(names[0], "split.count is " + std::to_string(n_split) + " but the file name says " +
                                         std::to_string(shards.size()) + " shards");
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < shards.size(); ++i) {
        const Header& s = *shards[i];
        auto no = s.get_uint("split.no");
        if (!no || *no != i)
            return shard_error(names[i], "split.no is " + (no ? std::to_string(*no) : std::string("missing")) +
                                             ", expected " + std::to_string(i));
        // gguf-split pads to 32 whatever general.alignment says, so other alignments give corrupt merges.
        if (s.alignment != kDefaultAlignment)
            return shard_error(names[i], "general.alignment is " + std::to_string(s.alignment) +
                                             "; gguf-split writes 32-byte padding regardless, so this set cannot be "
                                             "merged correctly (refused)");
        for (const auto& t : s.tensors)
            if (!seen.insert(t.name).second)
                return shard_error(names[i], "tensor '" + t.name + "' appears in more than one shard");
    }
    if (auto total = first.get_uint("split.tensors.count"); total && *total != seen.size())
        return shard_error(names[0], "split.tensors.count is " + std::to_string(*total) + " but the shards hold " +
                                         std::to_string(seen.size()) + " tensors");

    MergedGguf m;
    // KVs of shard 1 through gguf_set_kv, with split.count set to 0.
    for (const auto& e : first.kv) {
        if (e.key == "split.count" && order == MergeOrder::Mainline) continue;
        m.kv.push_back(e.key == "split.count" ? make_u16("split.count", 0) : roundtrip_kv(e));
    }
    if (order == MergeOrder::Mainline) m.kv.push_back(make_u16("split.count", 0));

    uint64_t offset = 0;
    for (size_t i = 0; i < shards.size(); ++i) {
        for (const auto& t : shards[i]->tensors) {
            TensorInfo out = t;
            out.offset = offset;
            uint64_t padded = pad(t.nbytes, kDefaultAlignment);
            m.spans.push_back(MergedTensor{i, shards[i]->data_offset + t.offset, t.nbytes, padded});
            if (__builtin_add_overflow(offset, padded, &offset)) return shard_error(names[i], "merged size overflows");
            m.tensors.push_back(std::move(out));
        }
    }
    m.metadata = write_metadata(3, m.kv, m.tensors, kDefaultAlignment, /*normalize_dims=*/true);
    m.size = m.metadata.size() + offset;
    return m;
}

}  // namespace wfs::gguf

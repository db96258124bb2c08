#include "views/gguf_models.hpp"

#include "formats/gguf_merge.hpp"

namespace wfs {

std::vector<GgufModel> gguf_models(const Catalog& catalog, const std::string& view, std::vector<Problem>& problems) {
    std::vector<GgufModel> out;
    for (const auto& g : catalog.ggufs) {
        GgufModel m;
        auto slash = g.rel.rfind('/');
        m.rel_dir = slash == std::string::npos ? "" : g.rel.substr(0, slash);
        m.stem = g.rel.substr(slash == std::string::npos ? 0 : slash + 1);
        m.stem.resize(m.stem.size() - 5);  // ".gguf"
        m.kv = g.header->kv;
        m.alignment = g.header->alignment;
        m.sources = {g.rel};
        m.mtime = g.file->mtime_sec();
        m.single = &g;
        for (const auto& t : g.header->tensors) m.tensors.push_back({t, g.file, g.header->data_offset + t.offset});
        out.push_back(std::move(m));
    }
    for (const auto& set : catalog.splits) {
        std::vector<const gguf::Header*> headers;
        GgufModel m;
        for (const auto& s : set.shards) {
            headers.push_back(s.header.get());
            m.sources.push_back(s.rel);
        }
        auto merged = gguf::merge_split(headers, m.sources, gguf::MergeOrder::Ik);
        if (!merged) {
            problems.push_back({view, join_rel(set.rel_dir, set.prefix + ".gguf"), merged.error().offset, merged.error().message});
            continue;
        }
        m.rel_dir = set.rel_dir;
        m.stem = set.prefix;
        m.kv = set.shards[0].header->kv;  // loaders read the first shard's KVs
        m.mtime = set.shards[0].file->mtime_sec();
        m.split = &set;
        for (size_t i = 0; i < merged->tensors.size(); ++i)
            m.tensors.push_back({merged->tensors[i], set.shards[merged->spans[i].shard].file, merged->spans[i].src_offset});
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace wfs

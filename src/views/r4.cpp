#include "views/r4.hpp"

#include <regex>

#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"
#include "formats/gguf_merge.hpp"
#include "transforms/repack.hpp"
#include "views/concat.hpp"

namespace wfs {

namespace {

struct Tensor {
    gguf::TensorInfo info;
    SourceFilePtr file;
    uint64_t offset = 0;
};

struct Input {
    std::string rel;  // the file (or split prefix) as listed
    std::vector<gguf::KeyValue> kv;
    std::vector<Tensor> tensors;
    uint32_t alignment = gguf::kDefaultAlignment;
    std::vector<std::string> sources;
    int64_t mtime = 0;
};

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 12)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

// Sets `key` to u32 `value` in place (its type becomes u32), or appends it (ik's gguf_set_val_u32).
void set_u32(std::vector<gguf::KeyValue>& kv, const std::string& key, uint32_t value) {
    for (auto& e : kv)
        if (e.key == key) {
            e = gguf::make_u32(key, value);
            return;
        }
    kv.push_back(gguf::make_u32(key, value));
}

}  // namespace

void R4View::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    const auto& opt = ctx.options;
    const bool bf16 = opt.repack_bf16 == RepackBf16::On || (opt.repack_bf16 == RepackBf16::Auto && cpu_has_avx512_bf16());
    std::optional<std::regex> pattern;
    if (!opt.repack_pattern.empty()) pattern.emplace(opt.repack_pattern, std::regex::ECMAScript);

    std::vector<Input> inputs;
    for (const auto& g : ctx.catalog.ggufs) {
        Input in{g.rel, g.header->kv, {}, g.header->alignment, {g.rel}, g.file->mtime_sec()};
        for (const auto& t : g.header->tensors) in.tensors.push_back({t, g.file, g.header->data_offset + t.offset});
        inputs.push_back(std::move(in));
    }
    for (const auto& set : ctx.catalog.splits) {
        std::vector<const gguf::Header*> headers;
        std::vector<std::string> names;
        for (const auto& s : set.shards) {
            headers.push_back(s.header.get());
            names.push_back(s.rel);
        }
        std::string rel = join_rel(set.rel_dir, set.prefix + ".gguf");
        auto merged = gguf::merge_split(headers, names, gguf::MergeOrder::Ik);
        if (!merged) {
            ctx.report.problems.push_back({root, rel, merged.error().offset, merged.error().message});
            continue;
        }
        // The loader reads the first shard's KVs; tensors come shard after shard.
        Input in{rel, set.shards[0].header->kv, {}, gguf::kDefaultAlignment, names, set.shards[0].file->mtime_sec()};
        for (size_t i = 0; i < merged->tensors.size(); ++i)
            in.tensors.push_back({merged->tensors[i], set.shards[merged->spans[i].shard].file, merged->spans[i].src_offset});
        inputs.push_back(std::move(in));
    }

    for (auto& in : inputs) {
        if (in.alignment != gguf::kDefaultAlignment) {
            ctx.report.problems.push_back({root, in.rel, 0, "general.alignment is " + std::to_string(in.alignment) +
                                                                 "; llama-quantize --repack writes 32-byte padding regardless, "
                                                                 "so its output would be corrupt (refused)"});
            continue;
        }
        // Which tensors ik repacks: a table type, not an embedding, whole groups of rows, the pattern.
        std::vector<const repack::Entry*> plan(in.tensors.size(), nullptr);
        bool any = false;
        for (size_t i = 0; i < in.tensors.size(); ++i) {
            const auto& t = in.tensors[i].info;
            const repack::Entry* e = repack::find(t.type, bf16);
            if (!e || t.name == "token_embd.weight" || t.name == "per_layer_token_embd.weight") continue;
            if (t.ne[1] % e->rows != 0) continue;
            if (pattern && !std::regex_search(t.name, *pattern)) continue;
            plan[i] = e;
            any = true;
        }
        const std::string path = join_rel(root, in.rel);
        if (!any) {  // nothing eligible: shown unchanged (as concat/ shows it)
            const SplitSet* set = nullptr;
            for (const auto& s : ctx.catalog.splits)
                if (join_rel(s.rel_dir, s.prefix + ".gguf") == in.rel) set = &s;
            VirtualFilePtr vf;
            if (set) {
                auto merged = merged_split_file(*set, MergeOrder::Mainline, root);
                if (merged) vf = *merged;
            } else {
                for (const auto& g : ctx.catalog.ggufs)
                    if (g.rel == in.rel) {
                        ExtentListBuilder c;
                        c.add_copy(g.file, 0, g.file->size());
                        vf = std::make_shared<VirtualFile>(root, c.take(), g.file->size(), in.sources, 0444, in.mtime);
                    }
            }
            if (vf && ctx.tree.add_file(path, vf, root)) ctx.report.shown.push_back({path, "GGUF, nothing to repack: unchanged", vf->size()});
            continue;
        }
        gguf::Header kv_only;
        kv_only.kv = in.kv;
        auto ftype = kv_only.get_uint("general.file_type");
        if (!ftype) {
            ctx.report.problems.push_back({root, in.rel, 0, "no general.file_type: llama-quantize would write its own "
                                                              "guess of the file type, which is not reproduced (refused)"});
            continue;
        }
        // Header: KVs in order, quantization_version = 2, split.* removed, file_type remapped.
        std::vector<gguf::KeyValue> kv;
        for (const auto& e : in.kv) kv.push_back(gguf::roundtrip_kv(e));
        set_u32(kv, "general.quantization_version", 2);
        std::erase_if(kv, [](const gguf::KeyValue& e) { return e.key.compare(0, 6, "split.") == 0; });
        set_u32(kv, "general.file_type", repack::repacked_ftype(static_cast<uint32_t>(*ftype)));

        std::vector<gguf::TensorInfo> infos;
        uint64_t offset = 0;
        for (size_t i = 0; i < in.tensors.size(); ++i) {
            gguf::TensorInfo t = in.tensors[i].info;
            if (plan[i]) t.type = plan[i]->dst_type;
            t.offset = offset;
            offset += gguf::pad(t.nbytes, gguf::kDefaultAlignment);
            infos.push_back(t);
        }
        ExtentListBuilder b;
        b.add_bytes(gguf::write_metadata(3, kv, infos, gguf::kDefaultAlignment, true));
        for (size_t i = 0; i < in.tensors.size(); ++i) {
            const Tensor& t = in.tensors[i];
            if (plan[i]) {
                const uint64_t rows = static_cast<uint64_t>(t.info.ne[1]) * t.info.ne[2] * t.info.ne[3];
                b.add_piece(std::make_shared<repack::RepackPiece>(*plan[i], t.file, t.offset, t.info.nbytes / rows), 0, t.info.nbytes);
            } else {
                b.add_copy(t.file, t.offset, t.info.nbytes);
            }
            b.add_zeros(gguf::pad(t.info.nbytes, gguf::kDefaultAlignment) - t.info.nbytes);
        }
        uint64_t size = b.size();
        size_t repacked = std::count_if(plan.begin(), plan.end(), [](auto* p) { return p != nullptr; });
        if (ctx.tree.add_file(path, std::make_shared<VirtualFile>(root, b.take(), size, in.sources, 0444, in.mtime), root))
            ctx.report.shown.push_back({path, "GGUF with " + std::to_string(repacked) + " tensors repacked", size});
    }
}

}  // namespace wfs

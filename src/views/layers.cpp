#include "views/layers.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string_view>
#include <unordered_map>

#include "formats/gguf.hpp"
#include "formats/hf.hpp"
#include "transforms/part_names.hpp"
#include "formats/safetensors.hpp"
#include "transforms/layer_plan.hpp"
#include "views/bf16.hpp"
#include "views/gguf_models.hpp"
#include "views/tensor_file.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

VirtualFilePtr empty_file(const std::string& view, int64_t mtime) {
    return std::make_shared<VirtualFile>(view, std::vector<Extent>{}, 0, std::vector<std::string>{}, 0444, mtime);
}

// Layer index of "blk.N.…", or -1.
long blk_index(const std::string& name) {
    if (name.compare(0, 4, "blk.") != 0) return -1;
    size_t end = name.find('.', 4);
    std::string n = name.substr(4, end == std::string::npos ? std::string::npos : end - 4);
    if (n.size() > 9 || !all_digits(n)) return -1;
    return std::stol(n);
}

// The model as a gguf-split set with one layer per shard, as llama-gguf-split writes shards:
// every KV in shard 1 followed by split.no, split.tensors.count, split.count (mainline order);
// shards 2..N carry only the split keys; tensors padded to 32; n_dims normalized.
// Tensors before the first layer go to shard 1, those after the last layer to the last shard.
Result<std::vector<std::pair<std::string, VirtualFilePtr>>> gguf_layer_set(const std::vector<gguf::KeyValue>& kv,
                                                                        const std::vector<GgufTensorRef>& tensors,
                                                                        const std::string& prefix, const std::string& view,
                                                                        const std::vector<std::string>& sources, int64_t mtime) {
    std::vector<long> layers;
    for (const auto& t : tensors)
        if (long b = blk_index(t.info.name); b >= 0) layers.push_back(b);
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
    if (layers.empty()) return std::vector<std::pair<std::string, VirtualFilePtr>>{};
    const size_t n = layers.size();
    if (n > UINT16_MAX)  // split.no and split.count are 16-bit keys
        return make_error(EINVAL, std::to_string(n) + " layers: a gguf-split set holds at most 65535 shards");
    std::vector<std::vector<const GgufTensorRef*>> shard(n);
    size_t current = 0;
    bool seen_layer = false;
    for (const auto& t : tensors) {
        long b = blk_index(t.info.name);
        if (b >= 0) {
            current = static_cast<size_t>(std::lower_bound(layers.begin(), layers.end(), b) - layers.begin());
            seen_layer = true;
        } else if (seen_layer) {
            current = n - 1;  // after the layers: the last shard
        }
        shard[current].push_back(&t);
    }
    std::vector<gguf::KeyValue> model_kv;
    for (const auto& e : kv)
        if (e.key.compare(0, 6, "split.") != 0) model_kv.push_back(gguf::roundtrip_kv(e));
    std::vector<std::pair<std::string, VirtualFilePtr>> out;
    for (size_t i = 0; i < n; ++i) {
        std::vector<gguf::KeyValue> skv = i == 0 ? model_kv : std::vector<gguf::KeyValue>{};
        skv.push_back(gguf::make_u16("split.no", static_cast<uint16_t>(i)));
        skv.push_back(gguf::make_i32("split.tensors.count", static_cast<int32_t>(tensors.size())));
        skv.push_back(gguf::make_u16("split.count", static_cast<uint16_t>(n)));
        std::vector<gguf::TensorInfo> infos;
        uint64_t offset = 0;
        for (const GgufTensorRef* t : shard[i]) {
            gguf::TensorInfo ti = t->info;
            ti.offset = offset;
            offset += gguf::pad(ti.nbytes, gguf::kDefaultAlignment);
            infos.push_back(ti);
        }
        ExtentListBuilder b;
        b.add_bytes(gguf::write_metadata(3, skv, infos, gguf::kDefaultAlignment, true));
        for (const GgufTensorRef* t : shard[i]) {
            b.add_copy(t->file, t->offset, t->info.nbytes);
            b.add_zeros(gguf::pad(t->info.nbytes, gguf::kDefaultAlignment) - t->info.nbytes);
        }
        uint64_t size = b.size();
        out.push_back({split_name(prefix, static_cast<uint32_t>(i + 1), static_cast<uint32_t>(n)),
                       std::make_shared<VirtualFile>(view, b.take(), size, sources, 0444, mtime)});
    }
    return out;
}

void build_gguf_layers(ViewContext& ctx, const std::string& root) {
    auto publish_set = [&](const std::string& dir, const std::string& prefix, const std::vector<gguf::KeyValue>& kv,
                       const std::vector<GgufTensorRef>& tensors, uint32_t alignment, const std::vector<std::string>& sources,
                       int64_t mtime, const std::string& what) {
        if (alignment != gguf::kDefaultAlignment) {
            ctx.report.problems.push_back({root, what, 0, "general.alignment is " + std::to_string(alignment) +
                                                               "; gguf-split only writes 32-byte padding (refused)"});
            return;
        }
        auto set = gguf_layer_set(kv, tensors, prefix, root, sources, mtime);
        if (!set) {
            ctx.report.problems.push_back({root, what, set.error().offset, set.error().message});
            return;
        }
        for (auto& entry : *set) entry.first = join_rel(root, join_rel(dir, prefix + "/" + entry.first));
        wfs::publish(ctx, root, std::move(set).value(), "GGUF layer shard");
    };
    for (const GgufModel& m : gguf_models(ctx.catalog, root, ctx.report.problems))
        publish_set(m.rel_dir, m.stem, m.kv, m.tensors, m.alignment, m.sources, m.mtime, m.rel());
}

}  // namespace

void LayersView::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    build_gguf_layers(ctx, root);
    for (const auto& m : ctx.catalog.hf_models) {
        if (!m.usable) continue;
        // Tensor bytes: from the bf16/ form when the checkpoint is quantized, else from the shards.
        const auto& bf16 = bf16_model(ctx, m);
        if (!bf16) {
            ctx.report.problems.push_back({root, m.rel_dir, bf16.error().offset, bf16.error().message});
            continue;
        }
        const std::vector<TensorBytes> all = checkpoint_tensors(m, *bf16);
        std::vector<std::string> names;
        names.reserve(all.size());
        std::unordered_map<std::string_view, const TensorBytes*> tensors;  // into `all`
        tensors.reserve(all.size() + 1);
        for (const auto& t : all) {
            names.push_back(t.name);
            tensors[t.name] = &t;
        }
        std::vector<std::string> sources;
        int64_t mtime = 0;
        for (const auto& shard : m.shards) {
            sources.push_back(shard.file->rel());
            mtime = std::max(mtime, shard.file->mtime_sec());
        }
        std::string arch;
        if (m.config) {
            auto a = hf::read_architecture(FileByteReader(*m.config));
            if (!a) {
                ctx.report.problems.push_back({root, m.config->rel(), a.error().offset, a.error().message});
                continue;
            }
            arch = *a;
        }
        const LayerPlan plan = plan_layers(names, arch);
        TensorBytes alias;  // a tied output.weight: the embedding's bytes under the head's name
        if (!plan.tied_alias.empty()) {
            alias = *tensors.at(plan.tied_source);
            alias.name = plan.tied_alias;
            tensors[alias.name] = &alias;
        }
        // AirLLM's per-module file of a layer and the generic per-layer file hold the same
        // tensors: one VirtualFile serves both paths (half the memory, one cached copy). The
        // distinct files are rendered side by side (a DeepSeek-sized model has a hundred).
        std::map<std::vector<std::string>, VirtualFilePtr> made;
        std::vector<std::pair<const std::vector<std::string>*, VirtualFilePtr*>> to_make;
        auto want = [&](const std::vector<std::string>& members) {
            auto [it, fresh] = made.try_emplace(members);
            if (fresh) to_make.push_back({&it->first, &it->second});
        };
        for (const auto& [module, members] : plan.modules) want(members);
        for (const auto& [stem, members] : plan.generic) want(members);
        parallel_for(to_make.size(), [&](size_t i) {
            const auto& members = *to_make[i].first;
            std::vector<TensorBytes> t;
            t.reserve(members.size());
            for (const auto& n : members) t.push_back(*tensors.at(n));
            *to_make[i].second = safetensors_file(std::move(t), root, sources, mtime);
        });

        const std::string dir = join_rel(root, m.rel_dir);
        std::vector<std::pair<std::string, VirtualFilePtr>> files;
        for (const auto& [module, members] : plan.modules) {
            files.push_back({dir + "/splitted_model/" + module + ".safetensors", made.at(members)});
            files.push_back({dir + "/splitted_model/" + module + ".safetensors.done", empty_file(root, mtime)});
        }
        for (const auto& [stem, members] : plan.generic) files.push_back({dir + "/" + stem + ".safetensors", made.at(members)});
        bool ok = true;
        for (const auto& f : m.files) {
            if (ends_with(f.rel, ".safetensors")) continue;
            auto vf = bf16_side_file(m, *bf16, f, root);
            if (!vf) {
                ctx.report.problems.push_back({root, f.rel, vf.error().offset, vf.error().message});
                ok = false;
                break;
            }
            files.push_back({join_rel(root, f.rel), std::move(vf).value()});
        }
        if (ok) {
            publish(ctx, root, std::move(files), "layer file");
            // A layer runner reads the files in model order, one after the other (AirLLM's
            // modules, the generic embed, 0, 1, …, head): declared, so that the file after the
            // one being read is made ahead.
            auto chain = [&](const std::string& in_dir, const auto& names, const char* suffix) {
                for (size_t i = 0; i + 1 < names.size(); ++i)
                    ctx.tree.set_next(in_dir + "/" + names[i].first + suffix, names[i + 1].first + suffix);
            };
            chain(dir + "/splitted_model", plan.modules, ".safetensors");
            chain(dir, plan.generic, ".safetensors");
        }
    }
}

}  // namespace wfs

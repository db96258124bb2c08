#include "views/layers.hpp"

#include <unordered_map>

#include "formats/hf.hpp"
#include "formats/safetensors.hpp"
#include "transforms/layer_plan.hpp"
#include "views/bf16.hpp"
#include "views/tensor_file.hpp"

namespace wfs {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

VirtualFilePtr empty_file(const std::string& view, int64_t mtime) {
    return std::make_shared<VirtualFile>(view, std::vector<Extent>{}, 0, std::vector<std::string>{}, 0444, mtime);
}

}  // namespace

void LayersView::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    for (const auto& m : ctx.catalog.hf_models) {
        if (!m.usable) continue;
        // Tensor bytes: from the bf16/ form when the checkpoint is quantized, else from the shards.
        auto bf16 = bf16_model(m);
        if (!bf16) {
            ctx.report.problems.push_back({root, m.rel_dir, bf16.error().offset, bf16.error().message});
            continue;
        }
        std::vector<std::string> names;
        std::unordered_map<std::string, TensorBytes> tensors;
        std::vector<std::string> sources;
        int64_t mtime = 0;
        for (const auto& shard : m.shards) {
            sources.push_back(shard.file->rel());
            mtime = std::max(mtime, shard.file->mtime_sec());
            if (!bf16->shards.empty()) {
                for (const auto& t : bf16->shards.at(shard.name)) {
                    names.push_back(t.name);
                    tensors[t.name] = t;
                }
                continue;
            }
            for (const auto& t : shard.header->tensors) {
                names.push_back(t.name);
                tensors[t.name] = {t.name, t.dtype, t.shape, t.bytes(), shard.file, shard.header->data_offset + t.begin, nullptr};
            }
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
        if (!plan.tied_alias.empty()) {
            TensorBytes alias = tensors.at(plan.tied_source);
            alias.name = plan.tied_alias;
            tensors[plan.tied_alias] = alias;
        }
        auto file_of = [&](const std::vector<std::string>& members) {
            std::vector<TensorBytes> t;
            for (const auto& n : members) t.push_back(tensors.at(n));
            return safetensors_file(std::move(t), root, sources, mtime);
        };

        const std::string dir = join_rel(root, m.rel_dir);
        std::vector<std::pair<std::string, VirtualFilePtr>> files;
        for (const auto& [module, members] : plan.modules) {
            files.push_back({dir + "/splitted_model/" + module + ".safetensors", file_of(members)});
            files.push_back({dir + "/splitted_model/" + module + ".safetensors.done", empty_file(root, mtime)});
        }
        for (const auto& [stem, members] : plan.generic) files.push_back({dir + "/" + stem + ".safetensors", file_of(members)});
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
        if (!ok) continue;
        for (auto& [path, vf] : files) {
            uint64_t size = vf->size();
            if (ctx.tree.add_file(path, std::move(vf), root) != 0)
                ctx.report.shown.push_back({path, "layer file", size});
            else
                ctx.report.problems.push_back({root, path, 0, "name collides with a file of the checkpoint"});
        }
    }
}

}  // namespace wfs

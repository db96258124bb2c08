#include "views/bf16.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>

#include "formats/hf.hpp"
#include "transforms/fp8.hpp"

namespace wfs {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Error tensor_error(const SafetensorsFile& shard, const st::Tensor& t, const std::string& why) {
    uint64_t at = shard.header->data_offset + t.begin;
    return make_error(EINVAL, shard.file->rel() + ": offset " + std::to_string(at) + ": tensor '" + t.name + "': " + why, at);
}

}  // namespace

Result<Bf16Model> bf16_model(const HfModel& m) {
    std::optional<hf::Index> index;
    if (m.index) {
        auto idx = hf::read_index(FileByteReader(*m.index));
        if (!idx) return idx.error();
        index = std::move(idx).value();
    }
    std::unordered_map<std::string, const SafetensorsFile*> shard_by_name;
    for (const auto& s : m.shards) shard_by_name[s.name] = &s;

    // The script finds a weight's scale through the index (file, then that file's tensor); with
    // no index (a single-file checkpoint) we look in every shard.
    auto find_scale = [&](const std::string& name) -> Result<std::pair<const SafetensorsFile*, const st::Tensor*>> {
        const std::string sname = name + "_scale_inv";
        if (index) {
            const std::string* file = index->file_of(sname);
            if (!file) return std::pair<const SafetensorsFile*, const st::Tensor*>{nullptr, nullptr};
            auto it = shard_by_name.find(*file);
            if (it == shard_by_name.end())
                return make_error(ENOENT, m.index->rel() + ": '" + sname + "' maps to " + *file + ", which is missing");
            return std::pair{it->second, it->second->header->find(sname)};
        }
        for (const auto& s : m.shards)
            if (const st::Tensor* t = s.header->find(sname)) return std::pair{&s, t};
        return std::pair<const SafetensorsFile*, const st::Tensor*>{nullptr, nullptr};
    };

    Bf16Model out;
    bool converted_any = false;
    for (const auto& shard : m.shards) {
        auto& tensors = out.shards[shard.name];
        for (const auto& t : shard.header->tensors) {
            if (ends_with(t.name, "_scale_inv")) continue;  // dropped from every shard
            TensorBytes tb{t.name, t.dtype, t.shape, t.bytes(), shard.file, shard.header->data_offset + t.begin, nullptr};
            if (st::dtype_bits(t.dtype) == 8) {
                auto found = find_scale(t.name);
                if (!found) return found.error();
                auto [sfile, scale] = found.value();
                if (scale) {
                    if (t.dtype != st::Dtype::F8_E4M3 && t.dtype != st::Dtype::F8_E5M2)
                        return tensor_error(shard, t, std::string("has a scale but dtype ") + st::dtype_name(t.dtype) +
                                                          " is not FP8 (F8_E4M3 or F8_E5M2)");
                    if (t.shape.size() != 2)
                        return tensor_error(shard, t, "FP8 weight with a block scale must be 2-D, has " +
                                                          std::to_string(t.shape.size()) + " dimensions");
                    if (scale->dtype != st::Dtype::F32 && scale->dtype != st::Dtype::BF16 && scale->dtype != st::Dtype::F16)
                        return tensor_error(*sfile, *scale, std::string("scale dtype ") + st::dtype_name(scale->dtype) +
                                                                " (expected F32, BF16 or F16)");
                    const uint64_t rows = t.shape[0], cols = t.shape[1];
                    const std::vector<uint64_t> grid{(rows + fp8::kBlock - 1) / fp8::kBlock, (cols + fp8::kBlock - 1) / fp8::kBlock};
                    if (scale->shape != grid)
                        return tensor_error(*sfile, *scale, "scale grid shape does not match the weight's 128x128 blocks "
                                                            "(expected [" + std::to_string(grid[0]) + ", " +
                                                                std::to_string(grid[1]) + "])");
                    tb.dtype = st::Dtype::BF16;
                    tb.bytes = rows * cols * 2;
                    tb.piece = std::make_shared<fp8::DequantPiece>(shard.file, shard.header->data_offset + t.begin, t.dtype,
                                                                   sfile->file, sfile->header->data_offset + scale->begin,
                                                                   scale->dtype, rows, cols);
                    out.dropped_from_index.push_back(t.name + "_scale_inv");
                    converted_any = true;
                }
            }
            tensors.push_back(std::move(tb));
        }
    }
    if (!converted_any) out.shards.clear();
    return out;
}

void Bf16View::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    for (const auto& m : ctx.catalog.hf_models) {
        if (!m.usable) continue;
        auto model = bf16_model(m);
        if (!model) {
            ctx.report.problems.push_back({root, m.rel_dir, model.error().offset, model.error().message});
            continue;
        }
        if (model->shards.empty()) continue;  // no FP8 weights: nothing to show here
        std::set<std::string> dropped(model->dropped_from_index.begin(), model->dropped_from_index.end());
        std::vector<std::pair<std::string, VirtualFilePtr>> files;
        bool ok = true;
        for (const auto& f : m.files) {
            std::string fname = f.rel.substr(m.rel_dir.empty() ? 0 : m.rel_dir.size() + 1);
            auto shard = model->shards.find(fname);
            VirtualFilePtr vf;
            if (shard != model->shards.end()) {
                vf = safetensors_file(shard->second, root, {f.rel}, f.file->mtime_sec());
            } else if (f.file == m.index) {
                auto idx = hf::read_index(FileByteReader(*f.file));
                std::vector<std::pair<std::string, std::string>> map;
                for (auto& e : idx->weight_map)
                    if (!dropped.count(e.first)) map.push_back(e);
                std::string text = hf::write_index(map);
                ExtentListBuilder b;
                b.add_bytes(std::vector<uint8_t>(text.begin(), text.end()));
                vf = std::make_shared<VirtualFile>(root, b.take(), text.size(), std::vector<std::string>{f.rel}, 0444,
                                                   f.file->mtime_sec());
            } else if (f.file == m.config) {
                bool had = false;
                auto text = hf::strip_quantization_config(FileByteReader(*f.file), &had);
                if (!text) {
                    ctx.report.problems.push_back({root, f.rel, text.error().offset, text.error().message});
                    ok = false;
                    break;
                }
                ExtentListBuilder b;
                b.add_bytes(std::vector<uint8_t>(text->begin(), text->end()));
                vf = std::make_shared<VirtualFile>(root, b.take(), text->size(), std::vector<std::string>{f.rel}, 0444,
                                                   f.file->mtime_sec());
            } else {
                ExtentListBuilder b;
                b.add_copy(f.file, 0, f.file->size());
                vf = std::make_shared<VirtualFile>(root, b.take(), f.file->size(), std::vector<std::string>{f.rel},
                                                   f.file->mode() & 0555, f.file->mtime_sec());
            }
            files.push_back({join_rel(root, f.rel), std::move(vf)});
        }
        if (!ok) continue;
        for (auto& [path, vf] : files) {
            uint64_t size = vf->size();
            if (ctx.tree.add_file(path, std::move(vf), root) != 0) ctx.report.shown.push_back({path, "BF16 of FP8 checkpoint", size});
        }
    }
}

}  // namespace wfs

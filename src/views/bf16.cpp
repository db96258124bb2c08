#include "views/bf16.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "formats/hf.hpp"
#include "transforms/fp8.hpp"
#include "transforms/mxfp4.hpp"
#include "weightfs/worker_pool.hpp"

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
    const hf::Index* index = m.weight_map.get();  // parsed and checked by the catalog
    if (m.index && !index) return make_error(EINVAL, m.index->rel() + ": index not usable");
    using Located = std::pair<const SafetensorsFile*, const st::Tensor*>;
    // Keyed by views into the shard headers, which outlive this function (a DeepSeek-sized
    // checkpoint has 160k tensors: no copies of their names).
    std::unordered_map<std::string_view, const SafetensorsFile*> shard_by_name;
    std::unordered_map<std::string_view, Located> by_name;  // every tensor of every shard
    size_t total = 0;
    for (const auto& s : m.shards) total += s.header->tensors.size();
    by_name.reserve(total);
    for (const auto& s : m.shards) {
        shard_by_name[s.name] = &s;
        for (const auto& t : s.header->tensors) by_name.emplace(t.name, Located{&s, &t});
    }

    // fp8_cast_bf16.py finds a weight's scale through the index (file, then that file's tensor);
    // with no index (a single-file checkpoint) we look in every shard.
    auto find_scale_inv = [&](const std::string& name) -> Result<Located> {
        const std::string sname = name + "_scale_inv";
        if (index) {
            const std::string* file = index->file_of(sname);
            if (!file) return Located{nullptr, nullptr};
            auto it = shard_by_name.find(*file);
            if (it == shard_by_name.end())
                return make_error(ENOENT, m.index->rel() + ": '" + sname + "' maps to " + *file + ", which is missing");
            auto found = by_name.find(sname);  // usually in that very shard: no linear search
            if (found != by_name.end() && found->second.first == it->second) return found->second;
            return Located{it->second, it->second->header->find(sname)};
        }
        auto it = by_name.find(sname);
        return it == by_name.end() ? Located{nullptr, nullptr} : it->second;
    };
    auto scale_dtype_ok = [](st::Dtype d) { return d == st::Dtype::F32 || d == st::Dtype::BF16 || d == st::Dtype::F16; };

    // What converting one shard yields; shards are converted side by side (a DeepSeek-sized
    // checkpoint has 163 of them) and joined in shard order, so the first error is the one a
    // shard-by-shard pass would meet first.
    struct ShardResult {
        std::vector<std::optional<TensorBytes>> converted;  // by position in the shard
        std::vector<std::string_view> drop;                 // tensors left out of every shard
        std::vector<std::string> index_drop;
        std::vector<std::pair<std::string, std::string>> rename;
    };
    auto convert_shard = [&](const SafetensorsFile& shard, ShardResult& so) -> Status {
        so.converted.resize(shard.header->tensors.size());
        size_t position = 0;
        for (const auto& t : shard.header->tensors) {
            const size_t here = position++;
            const uint64_t at = shard.header->data_offset + t.begin;
            if (ends_with(t.name, "_scale_inv")) {
                so.drop.push_back(t.name);  // dropped from every shard, converted or not (as the script does)
                continue;
            }
            const bool fp8 = t.dtype == st::Dtype::F8_E4M3 || t.dtype == st::Dtype::F8_E5M2;
            // gpt-oss MXFP4: P_blocks U8 [..., R, G, 16] + P_scales U8 [..., R, G].
            if (t.dtype == st::Dtype::U8 && ends_with(t.name, "_blocks") && t.shape.size() >= 3 && t.shape.back() == 16) {
                const std::string base = t.name.substr(0, t.name.size() - 7);
                auto it = by_name.find(base + "_scales");
                if (it != by_name.end()) {
                    const auto& [sf, sc] = it->second;
                    std::vector<uint64_t> want(t.shape.begin(), t.shape.end() - 1);
                    if (sc->dtype != st::Dtype::U8 || sc->shape != want)
                        return tensor_error(*sf, *sc, "MXFP4 scales must be U8 shaped like the blocks without their last dimension");
                    const uint64_t rows = t.shape[t.shape.size() - 3], groups = t.shape[t.shape.size() - 2];
                    uint64_t lead = 1;
                    std::vector<uint64_t> shape(t.shape.begin(), t.shape.end() - 3);
                    for (auto d : shape) lead *= d;
                    shape.push_back(groups * 32);
                    shape.push_back(rows);
                    so.converted[here] = TensorBytes{base, st::Dtype::BF16, shape, lead * rows * groups * 32 * 2, nullptr, 0,
                                                    std::make_shared<mxfp4::Mxfp4Piece>(shard.file, at, sf->file,
                                                                                        sf->header->data_offset + sc->begin,
                                                                                        lead, rows, groups)};
                    so.drop.push_back(sc->name);
                    so.index_drop.push_back(sc->name);
                    so.rename.push_back({t.name, base});
                    continue;
                }
            }
            if (st::dtype_bits(t.dtype) == 8) {
                auto found = find_scale_inv(t.name);
                if (!found) return found.error();
                auto [sfile, scale] = found.value();
                const SafetensorsFile* cfile = nullptr;
                const st::Tensor* cscale = nullptr;  // compressed-tensors: X.weight + X.weight_scale
                if (!scale && ends_with(t.name, ".weight"))
                    if (auto it = by_name.find(t.name + "_scale"); it != by_name.end()) std::tie(cfile, cscale) = it->second;
                if (scale || cscale) {
                    const SafetensorsFile& sf = scale ? *sfile : *cfile;
                    const st::Tensor& sc = scale ? *scale : *cscale;
                    if (!fp8)
                        return tensor_error(shard, t, std::string("has a scale but dtype ") + st::dtype_name(t.dtype) +
                                                          " is not FP8 (F8_E4M3 or F8_E5M2)");
                    if (t.shape.size() != 2)
                        return tensor_error(shard, t, "an FP8 weight with a scale must be 2-D, has " +
                                                          std::to_string(t.shape.size()) + " dimensions");
                    if (!scale_dtype_ok(sc.dtype))
                        return tensor_error(sf, sc, std::string("scale dtype ") + st::dtype_name(sc.dtype) +
                                                        " (expected F32, BF16 or F16)");
                    const uint64_t rows = t.shape[0], cols = t.shape[1];
                    const std::vector<uint64_t> grid{(rows + fp8::kBlock - 1) / fp8::kBlock, (cols + fp8::kBlock - 1) / fp8::kBlock};
                    fp8::ScaleLayout layout = fp8::ScaleLayout::Block128;
                    if (scale) {
                        if (sc.shape != grid)
                            return tensor_error(sf, sc, "scale grid shape does not match the weight's 128x128 blocks (expected [" +
                                                            std::to_string(grid[0]) + ", " + std::to_string(grid[1]) + "])");
                        so.index_drop.push_back(t.name + "_scale_inv");
                    } else {
                        if (sc.elements() == 1) layout = fp8::ScaleLayout::PerTensor;
                        else if (sc.shape == std::vector<uint64_t>{rows, 1} || sc.shape == std::vector<uint64_t>{rows})
                            layout = fp8::ScaleLayout::PerRow;
                        else if (sc.shape != grid)
                            return tensor_error(sf, sc, "weight_scale shape fits neither per-tensor, per-channel [" +
                                                            std::to_string(rows) + ", 1] nor 128x128 blocks");
                        const std::string input_scale = t.name.substr(0, t.name.size() - 6) + "input_scale";
                        so.drop.push_back(cscale->name);
                        so.index_drop.push_back(cscale->name);
                        if (auto in = by_name.find(input_scale); in != by_name.end()) so.drop.push_back(in->first);
                        so.index_drop.push_back(input_scale);
                    }
                    so.converted[here] = TensorBytes{t.name, st::Dtype::BF16, t.shape, rows * cols * 2, nullptr, 0,
                                                    std::make_shared<fp8::DequantPiece>(shard.file, at, t.dtype, sf.file,
                                                                                        sf.header->data_offset + sc.begin,
                                                                                        sc.dtype, rows, cols, layout)};
                }
                continue;
            }
        }
        return {};
    };
    std::vector<ShardResult> results(m.shards.size());
    std::vector<Status> statuses(m.shards.size());
    parallel_for(m.shards.size(), [&](size_t i) { statuses[i] = convert_shard(m.shards[i], results[i]); });

    Bf16Model out;
    std::unordered_set<std::string_view> shard_drop;
    shard_drop.reserve(total / 2);
    for (size_t i = 0; i < m.shards.size(); ++i) {
        if (!statuses[i]) return statuses[i].error();
        shard_drop.insert(results[i].drop.begin(), results[i].drop.end());
        for (auto& n : results[i].index_drop) out.index_drop.insert(std::move(n));
        for (auto& [from, to] : results[i].rename) out.index_rename[from] = to;
    }
    const bool any_converted = std::any_of(results.begin(), results.end(), [](const ShardResult& r) {
        return std::any_of(r.converted.begin(), r.converted.end(), [](const auto& c) { return c.has_value(); });
    });
    if (!any_converted) return out;
    // The rewritten index (megabytes of JSON) and the shards' tensor lists are independent:
    // built side by side.
    auto render_index = [&] {
        std::vector<std::pair<std::string_view, std::string_view>> map;
        map.reserve(index->entries.size());
        for (auto& e : index->entries) {
            // Both are empty but for MXFP4 checkpoints: no string made per entry otherwise.
            if (!out.index_drop.empty() && out.index_drop.count(std::string(e.tensor))) continue;
            auto renamed = out.index_rename.empty() ? out.index_rename.end() : out.index_rename.find(std::string(e.tensor));
            map.push_back({renamed == out.index_rename.end() ? e.tensor : std::string_view(renamed->second), index->file(e)});
        }
        const std::string text = hf::write_index(map);
        out.index_text = std::make_shared<const MemoryPiece>(std::vector<uint8_t>(text.begin(), text.end()));
    };
    auto list_tensors = [&] {
        for (size_t i = 0; i < m.shards.size(); ++i) {
            const auto& shard = m.shards[i];
            auto& tensors = out.shards[shard.name];
            tensors.reserve(shard.header->tensors.size());
            size_t position = 0;
            for (const auto& t : shard.header->tensors) {
                auto& c = results[i].converted[position++];
                if (shard_drop.count(t.name)) continue;
                if (c) tensors.push_back(std::move(*c));
                else tensors.push_back({t.name, t.dtype, t.shape, t.bytes(), shard.file, shard.header->data_offset + t.begin, nullptr});
            }
        }
    };
    parallel_for(index ? 2 : 1, [&](size_t task) { task == 0 ? list_tensors() : render_index(); });
    return out;
}

std::vector<TensorBytes> checkpoint_tensors(const HfModel& m, const Bf16Model& model) {
    std::vector<TensorBytes> out;
    for (const auto& shard : m.shards) {
        if (!model.shards.empty()) {
            const auto& converted = model.shards.at(shard.name);
            out.insert(out.end(), converted.begin(), converted.end());
            continue;
        }
        for (const auto& t : shard.header->tensors)
            out.push_back({t.name, t.dtype, t.shape, t.bytes(), shard.file, shard.header->data_offset + t.begin, nullptr});
    }
    return out;
}

const Result<Bf16Model>& bf16_model(ViewContext& ctx, const HfModel& m) {
    auto& slot = ctx.bf16_models[&m];
    if (!slot) slot = std::make_shared<const Result<Bf16Model>>(bf16_model(m));
    return *slot;
}

Result<VirtualFilePtr> bf16_side_file(const HfModel& m, const Bf16Model& model, const PlainFile& f, const std::string& view) {
    auto text_file = [&](const std::string& text) {
        ExtentListBuilder b;
        b.add_bytes(std::vector<uint8_t>(text.begin(), text.end()));
        return VirtualFilePtr(std::make_shared<VirtualFile>(view, b.take(), text.size(), std::vector<std::string>{f.rel}, 0444,
                                                            f.file->mtime_sec()));
    };
    const bool converted = !model.shards.empty();  // an unquantized checkpoint keeps every file as-is
    if (converted && f.file == m.index && model.index_text) {
        ExtentListBuilder b;
        const uint64_t size = model.index_text->size();
        b.add_piece(model.index_text, 0, size);
        return VirtualFilePtr(std::make_shared<VirtualFile>(view, b.take(), size, std::vector<std::string>{f.rel}, 0444,
                                                            f.file->mtime_sec()));
    }
    if (converted && f.file == m.config) {
        bool had = false;
        auto text = hf::strip_quantization_config(FileByteReader(*f.file), &had);
        if (!text) return text.error();
        return text_file(*text);
    }
    ExtentListBuilder b;
    b.add_copy(f.file, 0, f.file->size());
    return VirtualFilePtr(std::make_shared<VirtualFile>(view, b.take(), f.file->size(), std::vector<std::string>{f.rel},
                                                        f.file->mode() & 0555, f.file->mtime_sec()));
}

void Bf16View::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    for (const auto& m : ctx.catalog.hf_models) {
        if (!m.usable) continue;
        const auto& model = bf16_model(ctx, m);
        if (!model) {
            ctx.report.problems.push_back({root, m.rel_dir, model.error().offset, model.error().message});
            continue;
        }
        if (model->shards.empty()) continue;  // nothing quantized: nothing to show here
        std::vector<std::pair<std::string, VirtualFilePtr>> files;
        bool ok = true;
        for (const auto& f : m.files) {
            std::string fname = f.rel.substr(m.rel_dir.empty() ? 0 : m.rel_dir.size() + 1);
            auto shard = model->shards.find(fname);
            Result<VirtualFilePtr> vf = shard != model->shards.end()
                                            ? Result<VirtualFilePtr>(safetensors_file(shard->second, root, {f.rel}, f.file->mtime_sec()))
                                            : bf16_side_file(m, *model, f, root);
            if (!vf) {
                ctx.report.problems.push_back({root, f.rel, vf.error().offset, vf.error().message});
                ok = false;
                break;
            }
            files.push_back({join_rel(root, f.rel), std::move(vf).value()});
        }
        if (ok) publish(ctx, root, std::move(files), "BF16 of a quantized checkpoint");
    }
}

}  // namespace wfs

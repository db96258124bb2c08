#include "views/r4.hpp"

#include <algorithm>
#include <regex>

#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"
#include "transforms/repack.hpp"
#include "views/concat.hpp"
#include "views/gguf_models.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace wfs {

namespace {

// CPUID.(EAX=7, ECX=1):EAX bit 5, read directly: clang's __builtin_cpu_supports does not know
// "avx512bf16" (a clang build used to say no on a CPU that has it, and serve a different r4/).
bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
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

    for (const GgufModel& in : gguf_models(ctx.catalog, root, ctx.report.problems)) {
        if (in.alignment != gguf::kDefaultAlignment) {
            ctx.report.problems.push_back({root, in.rel(), 0, "general.alignment is " + std::to_string(in.alignment) +
                                                                 "; llama-quantize --repack writes 32-byte padding regardless, "
                                                                 "so its output would be corrupt (refused)"});
            continue;
        }
        // Which tensors ik repacks: a table type, not an embedding, whole groups of rows, the pattern.
        std::vector<const repack::Entry*> plan(in.tensors.size(), nullptr);
        bool any = false;
        std::string unsupported;  // the first tensor ik would repack in a layout not implemented here
        for (size_t i = 0; i < in.tensors.size(); ++i) {
            const auto& t = in.tensors[i].info;
            const repack::Entry* e = repack::find(t.type, bf16);
            const unsigned rows = e ? e->rows : repack::unimplemented_rows(t.type);
            if (rows == 0 || t.name == "token_embd.weight" || t.name == "per_layer_token_embd.weight") continue;
            if (t.ne[1] % rows != 0) continue;
            if (pattern && !std::regex_search(t.name, *pattern)) continue;
            if (!e) {
                if (unsupported.empty()) {
                    const auto* traits = ggml::find_type(t.type);
                    unsupported = t.name + " (" + (traits ? std::string(traits->name) : std::to_string(t.type)) + ")";
                }
                continue;
            }
            plan[i] = e;
            any = true;
        }
        if (!unsupported.empty()) {
            ctx.report.problems.push_back({root, in.rel(), 0, "tensor " + unsupported + " would be repacked by llama-quantize "
                                                              "--repack into a layout weightfs does not implement (refused: "
                                                              "serving it unrepacked would not be ik's bytes; repack= can "
                                                              "leave it out)"});
            continue;
        }
        const std::string path = join_rel(root, in.rel());
        if (!any) {  // nothing eligible: shown unchanged (as concat/ shows it)
            VirtualFilePtr vf;
            if (in.split) {
                auto merged = merged_split_file(*in.split, MergeOrder::Mainline, root);
                if (merged) vf = *merged;
            } else {
                ExtentListBuilder c;
                c.add_copy(in.single->file, 0, in.single->file->size());
                vf = std::make_shared<VirtualFile>(root, c.take(), in.single->file->size(), in.sources, 0444, in.mtime);
            }
            if (vf) publish(ctx, root, {{path, vf}}, "GGUF, nothing to repack: unchanged");
            continue;
        }
        gguf::Header kv_only;
        kv_only.kv = in.kv;
        auto ftype = kv_only.get_uint("general.file_type");
        if (!ftype) {
            ctx.report.problems.push_back({root, in.rel(), 0, "no general.file_type: llama-quantize would write its own "
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
            const GgufTensorRef& t = in.tensors[i];
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
        publish(ctx, root, {{path, std::make_shared<VirtualFile>(root, b.take(), size, in.sources, 0444, in.mtime)}},
                "GGUF with " + std::to_string(repacked) + " tensors repacked");
    }
}

}  // namespace wfs

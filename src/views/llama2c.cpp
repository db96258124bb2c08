#include "views/llama2c.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <unordered_map>

#include "formats/hf.hpp"
#include "transforms/q80.hpp"
#include "views/bf16.hpp"
#include "views/tensor_file.hpp"

namespace wfs {

namespace {

// Compares two stored tensors' bytes, a chunk at a time (for the shared-classifier byte).
bool same_bytes(const TensorBytes& a, const TensorBytes& b) {
    if (a.bytes != b.bytes || a.dtype != b.dtype) return false;
    std::vector<uint8_t> x(1 << 20), y(1 << 20);
    for (uint64_t off = 0; off < a.bytes; off += x.size()) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(x.size(), a.bytes - off));
        Status sa = a.piece ? a.piece->produce(off, n, x.data()) : a.file->read_exact(a.file_offset + off, n, x.data());
        Status sb = b.piece ? b.piece->produce(off, n, y.data()) : b.file->read_exact(b.file_offset + off, n, y.data());
        if (!sa || !sb || std::memcmp(x.data(), y.data(), n) != 0) return false;
    }
    return true;
}

}  // namespace

void Llama2cView::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    for (const auto& m : ctx.catalog.hf_models) {
        if (!m.usable || !m.config) continue;
        auto cfg = hf::read_model_config(FileByteReader(*m.config));
        if (!cfg || (cfg->architecture.find("Llama") == std::string::npos && cfg->architecture.find("Mistral") == std::string::npos))
            continue;  // not a Llama-family checkpoint: nothing to show here
        const std::string what = m.rel_dir.empty() ? "model" : m.rel_dir;
        auto refuse = [&](const std::string& why) { ctx.report.problems.push_back({root, m.config->rel(), 0, why}); };
        const auto& bf16 = bf16_model(ctx, m);
        if (!bf16) {
            ctx.report.problems.push_back({root, m.rel_dir, bf16.error().offset, bf16.error().message});
            continue;
        }
        std::unordered_map<std::string, TensorBytes> tensors;
        for (auto& t : checkpoint_tensors(m, *bf16)) tensors[t.name] = std::move(t);
        int64_t mtime = 0;
        for (const auto& shard : m.shards) mtime = std::max(mtime, shard.file->mtime_sec());
        const int64_t D = cfg->hidden_size, L = cfg->num_hidden_layers, NH = cfg->num_attention_heads,
                      NKV = cfg->num_key_value_heads ? cfg->num_key_value_heads : cfg->num_attention_heads, V = cfg->vocab_size;
        constexpr int64_t kInt32 = INT32_MAX;  // the header's fields
        if (D <= 0 || L <= 0 || NH <= 0 || V <= 0 || NKV <= 0 || NKV > NH || D > kInt32 || V > kInt32 ||
            cfg->max_position_embeddings < 0 || cfg->max_position_embeddings > kInt32 || D % NH != 0 ||
            (cfg->head_dim && cfg->head_dim != D / NH)) {
            refuse("llama2.c needs head size = hidden_size / num_attention_heads, 0 < num_key_value_heads <= "
                   "num_attention_heads, and positive sizes that fit its 32-bit header");
            continue;
        }
        // Every layer is 9 tensors here (2 norms, 7 matrices): a config claiming more layers than
        // the checkpoint can hold is refused before anything is made per layer.
        if (L > static_cast<int64_t>(tensors.size() / 9)) {
            refuse("num_hidden_layers is " + std::to_string(L) + ", but the checkpoint's " + std::to_string(tensors.size()) +
                   " tensors hold at most " + std::to_string(tensors.size() / 9) + " layers");
            continue;
        }
        const int64_t hs = D / NH, KV = NKV * hs;
        bool biased = false;
        for (auto& [name, t] : tensors) biased = biased || (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0);
        if (biased) {
            refuse("llama2.c has no biases, and this checkpoint has bias tensors");
            continue;
        }
        // Every tensor llama2.c needs, with its expected shape.
        std::string missing;
        auto need = [&](const std::string& name, std::vector<uint64_t> shape) -> const TensorBytes* {
            auto it = tensors.find(name);
            if (it == tensors.end() || it->second.shape != shape ||
                (it->second.dtype != st::Dtype::BF16 && it->second.dtype != st::Dtype::F16 && it->second.dtype != st::Dtype::F32)) {
                if (missing.empty()) missing = name;
                return nullptr;
            }
            return &it->second;
        };
        const TensorBytes* embed = need("model.embed_tokens.weight", {uint64_t(V), uint64_t(D)});
        const TensorBytes* gate0 = tensors.count("model.layers.0.mlp.gate_proj.weight") ? &tensors["model.layers.0.mlp.gate_proj.weight"] : nullptr;
        const int64_t H = gate0 && gate0->shape.size() == 2 ? static_cast<int64_t>(std::min<uint64_t>(gate0->shape[0], INT64_MAX))
                                                            : cfg->intermediate_size;
        if (H <= 0 || H > kInt32) {
            refuse("llama2.c needs an intermediate size that fits its 32-bit header");
            continue;
        }
        unsigned gs = 64;
        while (D % gs != 0) gs /= 2;
        auto source = [](const TensorBytes& t, unsigned heads) {
            return q80::TensorSource{t.file, t.file_offset, t.piece, t.dtype, t.shape[0], t.shape.size() > 1 ? t.shape[1] : 1, heads};
        };

        ExtentListBuilder b;
        std::vector<uint8_t> header(256, 0);
        const uint32_t magic = 0x616b3432;
        const int32_t ints[8] = {2, int32_t(D), int32_t(H), int32_t(L), int32_t(NH), int32_t(NKV), int32_t(V),
                                 int32_t(cfg->max_position_embeddings)};
        std::memcpy(header.data(), &magic, 4);
        std::memcpy(header.data() + 4, ints, sizeof ints);
        // The norms: attention norms of every layer, FFN norms of every layer, the final norm.
        std::vector<const TensorBytes*> norms;
        for (const char* kind : {"input_layernorm", "post_attention_layernorm"})
            for (int64_t l = 0; l < L; ++l) norms.push_back(need("model.layers." + std::to_string(l) + "." + kind + ".weight", {uint64_t(D)}));
        norms.push_back(need("model.norm.weight", {uint64_t(D)}));
        // The quantized tensors, type-major.
        struct Q { const TensorBytes* t; unsigned heads; };
        std::vector<Q> quant{{embed, 0}};
        const std::pair<const char*, std::vector<uint64_t>> kinds[] = {
            {"self_attn.q_proj", {uint64_t(D), uint64_t(D)}}, {"self_attn.k_proj", {uint64_t(KV), uint64_t(D)}},
            {"self_attn.v_proj", {uint64_t(KV), uint64_t(D)}}, {"self_attn.o_proj", {uint64_t(D), uint64_t(D)}},
            {"mlp.gate_proj", {uint64_t(H), uint64_t(D)}},     {"mlp.down_proj", {uint64_t(D), uint64_t(H)}},
            {"mlp.up_proj", {uint64_t(H), uint64_t(D)}}};
        for (const auto& [kind, shape] : kinds)
            for (int64_t l = 0; l < L; ++l) {
                unsigned heads = std::string(kind) == "self_attn.q_proj" ? unsigned(NH) : std::string(kind) == "self_attn.k_proj" ? unsigned(NKV) : 0;
                quant.push_back({need("model.layers." + std::to_string(l) + "." + kind + ".weight", shape), heads});
            }
        // shared_classifier: no head, a tied config, or a head equal to the embedding (export.py's torch.equal).
        auto head = tensors.find("lm_head.weight");
        bool shared = head == tensors.end() || cfg->tie_word_embeddings;
        if (!shared && embed && head->second.bytes <= (256ull << 20)) shared = same_bytes(*embed, head->second);
        if (!shared) quant.push_back({need("lm_head.weight", {uint64_t(V), uint64_t(D)}), 0});
        if (!missing.empty()) {
            refuse("tensor '" + missing + "' is missing, has an unexpected shape or a dtype other than BF16/F16/F32");
            continue;
        }
        header[36] = shared ? 1 : 0;
        const int32_t gsi = static_cast<int32_t>(gs);
        std::memcpy(header.data() + 37, &gsi, 4);
        b.add_bytes(std::move(header));
        for (const TensorBytes* n : norms) b.add_piece(std::make_shared<q80::F32Piece>(source(*n, 0)), 0, uint64_t(D) * 4);
        bool ok = true;
        for (const Q& q : quant) {
            const uint64_t numel = q.t->shape[0] * q.t->shape[1];
            if (numel % gs != 0) {
                refuse("tensor '" + q.t->name + "' has " + std::to_string(numel) + " elements, not a multiple of the group size");
                ok = false;
                break;
            }
            auto piece = std::make_shared<q80::Q80Piece>(source(*q.t, q.heads), gs);
            b.add_piece(piece, 0, piece->size());
        }
        if (!ok) continue;
        std::vector<std::string> sources;
        for (const auto& s : m.shards) sources.push_back(s.file->rel());
        uint64_t size = b.size();
        publish(ctx, root, {{join_rel(root, what + ".bin"), std::make_shared<VirtualFile>(root, b.take(), size, sources, 0444, mtime)}},
                "llama2.c v2 (Q8_0, group size " + std::to_string(gs) + ")");
    }
}

}  // namespace wfs

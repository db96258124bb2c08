#include "transforms/layer_plan.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace wfs {

ModulePrefixes prefixes_for(const std::string& arch) {
    auto has = [&](const char* s) { return arch.find(s) != std::string::npos; };
    if (arch == "QWenLMHeadModel") return {"transformer.wte", "transformer.h", "transformer.ln_f", "lm_head", ""};
    if (has("ChatGLM"))
        return {"transformer.embedding.word_embeddings", "transformer.encoder.layers",
                "transformer.encoder.final_layernorm", "transformer.output_layer", "transformer.rotary_pos_emb"};
    if (has("Qwen3_5") || has("Qwen3VL") || has("Qwen3_6"))
        return {"model.language_model.embed_tokens", "model.language_model.layers", "model.language_model.norm", "lm_head", ""};
    if (has("KimiK3"))
        return {"language_model.model.embed_tokens", "language_model.model.layers", "language_model.model.norm",
                "language_model.lm_head", ""};
    return {"model.embed_tokens", "model.layers", "model.norm", "lm_head", ""};
}

namespace {
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
}  // namespace

LayerPlan plan_layers(const std::vector<std::string>& names, const std::string& architecture) {
    const ModulePrefixes p = prefixes_for(architecture);
    // Layer indices present: "<layers>.<digits>.…".
    std::set<long> indices;
    const std::string lp = p.layers + ".";
    for (const auto& n : names) {
        if (!starts_with(n, lp)) continue;
        size_t end = n.find('.', lp.size());
        std::string idx = n.substr(lp.size(), end == std::string::npos ? std::string::npos : end - lp.size());
        if (!idx.empty() && idx.size() < 10 && std::all_of(idx.begin(), idx.end(), ::isdigit)) indices.insert(std::stol(idx));
    }
    std::vector<std::string> order;
    if (!p.rotary.empty()) order.push_back(p.rotary);
    order.push_back(p.embed);
    for (long i : indices) order.push_back(p.layers + "." + std::to_string(i));
    order.push_back(p.norm);
    order.push_back(p.lm_head);

    LayerPlan plan;
    std::set<std::string> placed;
    for (const auto& module : order) {
        std::vector<std::string> members;
        for (const auto& n : names)
            if (starts_with(n, module + ".")) members.push_back(n);
        if (module == p.lm_head && members.empty()) {
            // Tied embeddings: the head is the embedding matrix under the head's name.
            const std::string embed_weight = p.embed + ".weight";
            if (std::find(names.begin(), names.end(), embed_weight) != names.end()) {
                plan.tied_alias = p.lm_head + ".weight";
                plan.tied_source = embed_weight;
                members.push_back(plan.tied_alias);
            }
        }
        if (members.empty()) continue;  // AirLLM 3.x drops modules without keys
        placed.insert(members.begin(), members.end());
        plan.modules.push_back({module, members});
    }

    // Generic names: embed, one file per layer index, head = norm + lm_head, extra = the rest.
    for (const auto& [module, members] : plan.modules) {
        std::string stem;
        if (module == p.embed) stem = "embed";
        else if (module == p.norm || module == p.lm_head) stem = "head";
        else if (starts_with(module, lp)) stem = module.substr(lp.size());
        else stem = "extra";
        auto it = std::find_if(plan.generic.begin(), plan.generic.end(), [&](auto& g) { return g.first == stem; });
        if (it == plan.generic.end()) plan.generic.push_back({stem, members});
        else it->second.insert(it->second.end(), members.begin(), members.end());
    }
    std::vector<std::string> extra;
    for (const auto& n : names)
        if (!placed.count(n)) extra.push_back(n);
    if (!extra.empty()) {
        auto it = std::find_if(plan.generic.begin(), plan.generic.end(), [](auto& g) { return g.first == "extra"; });
        if (it == plan.generic.end()) plan.generic.push_back({"extra", extra});
        else it->second.insert(it->second.end(), extra.begin(), extra.end());
    }
    return plan;
}

}  // namespace wfs

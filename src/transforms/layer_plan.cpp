#include "transforms/layer_plan.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <unordered_set>

#include "transforms/part_names.hpp"

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
    // One pass: each name to its module — "<layers>.<N>" by its layer index (canonical digits
    // only, as a prefix test on "<layers>.<N>." would have it), else the first named module it
    // starts with. Members keep the names' order.
    const std::string lp = p.layers + ".";
    std::map<long, std::vector<std::string>> by_layer;
    std::map<std::string, std::vector<std::string>> by_module;
    for (const auto& n : names) {
        if (starts_with(n, lp)) {
            size_t end = n.find('.', lp.size());
            if (end != std::string::npos) {
                std::string idx = n.substr(lp.size(), end - lp.size());
                if (idx.size() < 10 && all_digits(idx) &&
                    std::to_string(std::stol(idx)) == idx) {
                    by_layer[std::stol(idx)].push_back(n);
                    continue;
                }
            }
        }
        for (const std::string* m : {&p.rotary, &p.embed, &p.norm, &p.lm_head})
            if (!m->empty() && starts_with(n, *m + ".")) {
                by_module[*m].push_back(n);
                break;
            }
    }
    std::vector<std::pair<std::string, std::vector<std::string>*>> order;
    if (!p.rotary.empty()) order.push_back({p.rotary, &by_module[p.rotary]});
    order.push_back({p.embed, &by_module[p.embed]});
    for (auto& [i, members] : by_layer) order.push_back({p.layers + "." + std::to_string(i), &members});
    order.push_back({p.norm, &by_module[p.norm]});
    order.push_back({p.lm_head, &by_module[p.lm_head]});

    LayerPlan plan;
    std::unordered_set<std::string_view> placed;
    for (auto& [module, found] : order) {
        std::vector<std::string> members = std::move(*found);
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
        plan.modules.push_back({module, std::move(members)});
    }
    for (const auto& [module, members] : plan.modules)
        for (const auto& n : members) placed.insert(n);

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

// Which tensors form which layer file (reference/layers.md §2.3, §2.8, §5.3).
//
// AirLLM's modules: [embed] + [<layer_prefix>.i for every layer index present] + [norm, lm_head]
// (ChatGLM also rotary_pos_emb), with the prefixes of the checkpoint's architecture; a module holds
// every tensor whose name starts with "<module>." — the trailing dot keeps layers.1 from matching
// layers.10. Layer indices are counted as AirLLM counts them, so DeepSeek's MTP layer (index =
// num_hidden_layers) is a layer file too. Generic names group the same way: embed, <N>, head
// (norm + lm_head), extra (everything else). A tied model gets lm_head.weight = the embedding.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace wfs {

struct ModulePrefixes {
    std::string embed, layers, norm, lm_head;
    std::string rotary;  // ChatGLM's rotary_pos_emb module, else empty
};

// The prefix set AirLLM uses for config.architectures[0].
ModulePrefixes prefixes_for(const std::string& architecture);

struct LayerPlan {
    // AirLLM module name → tensor names, in the order modules appear.
    std::vector<std::pair<std::string, std::vector<std::string>>> modules;
    // Generic file stem ("embed", "0", …, "head", "extra") → tensor names.
    std::vector<std::pair<std::string, std::vector<std::string>>> generic;
    // When the checkpoint has no head: the alias to add ("lm_head.weight") and its source tensor.
    std::string tied_alias, tied_source;
};

LayerPlan plan_layers(const std::vector<std::string>& tensor_names, const std::string& architecture);

}  // namespace wfs

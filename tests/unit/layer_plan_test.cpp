#include <gtest/gtest.h>

#include "transforms/layer_plan.hpp"

using namespace wfs;

namespace {
const std::vector<std::string>* module(const LayerPlan& p, const std::string& name) {
    for (auto& [m, members] : p.modules)
        if (m == name) return &members;
    return nullptr;
}
const std::vector<std::string>* generic(const LayerPlan& p, const std::string& name) {
    for (auto& [m, members] : p.generic)
        if (m == name) return &members;
    return nullptr;
}
}  // namespace

TEST(LayerPlan, TrailingDotKeepsLayer1AwayFromLayer10) {
    std::vector<std::string> names = {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"};
    for (int i = 0; i < 12; ++i) names.push_back("model.layers." + std::to_string(i) + ".mlp.up_proj.weight");
    auto p = plan_layers(names, "LlamaForCausalLM");
    ASSERT_NE(module(p, "model.layers.1"), nullptr);
    EXPECT_EQ(*module(p, "model.layers.1"), std::vector<std::string>{"model.layers.1.mlp.up_proj.weight"});
    EXPECT_EQ(*module(p, "model.layers.10"), std::vector<std::string>{"model.layers.10.mlp.up_proj.weight"});
    EXPECT_EQ(p.modules.size(), 15u);
    EXPECT_EQ(*generic(p, "head"), (std::vector<std::string>{"model.norm.weight", "lm_head.weight"}));
    EXPECT_EQ(generic(p, "extra"), nullptr);
    EXPECT_TRUE(p.tied_alias.empty());
}

TEST(LayerPlan, MtpLayerCountsAsALayerTiedHeadAliasesTheEmbeddingExtrasCollected) {
    std::vector<std::string> names = {"model.embed_tokens.weight", "model.layers.0.a.weight", "model.layers.1.a.weight",
                                      "model.layers.2.eh_proj.weight", "model.norm.weight", "mtp.head.weight",
                                      "model.layers_extra.weight"};
    auto p = plan_layers(names, "DeepseekV3ForCausalLM");
    ASSERT_NE(module(p, "model.layers.2"), nullptr);  // the MTP layer, as AirLLM counts it
    EXPECT_EQ(p.tied_alias, "lm_head.weight");
    EXPECT_EQ(p.tied_source, "model.embed_tokens.weight");
    EXPECT_EQ(*module(p, "lm_head"), std::vector<std::string>{"lm_head.weight"});
    EXPECT_EQ(*generic(p, "extra"), (std::vector<std::string>{"mtp.head.weight", "model.layers_extra.weight"}));
    ASSERT_NE(generic(p, "2"), nullptr);
}

TEST(LayerPlan, ArchitecturePrefixSets) {
    auto glm = plan_layers({"transformer.rotary_pos_emb.inv_freq", "transformer.embedding.word_embeddings.weight",
                            "transformer.encoder.layers.0.x.weight", "transformer.encoder.final_layernorm.weight",
                            "transformer.output_layer.weight"},
                           "ChatGLMModel");
    EXPECT_EQ(glm.modules.front().first, "transformer.rotary_pos_emb");
    EXPECT_NE(module(glm, "transformer.encoder.layers.0"), nullptr);
    EXPECT_NE(module(glm, "transformer.output_layer"), nullptr);
    auto qwen = plan_layers({"transformer.wte.weight", "transformer.h.0.attn.c_attn.weight", "transformer.ln_f.weight",
                             "lm_head.weight"},
                            "QWenLMHeadModel");
    EXPECT_NE(module(qwen, "transformer.h.0"), nullptr);
    EXPECT_NE(module(qwen, "transformer.wte"), nullptr);
}

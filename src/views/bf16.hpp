#pragma once

#include <map>

#include "views/tensor_file.hpp"
#include "weightfs/view.hpp"

namespace wfs {

// bf16/: FP8 Hugging Face checkpoints (block-scaled *_scale_inv, DeepSeek/Kimi/Qwen style) served
// as DeepSeek's fp8_cast_bf16.py writes them, plus config.json without quantization_config and
// every other file as-is.
class Bf16View final : public View {
public:
    std::string name() const override { return "bf16"; }
    void build(ViewContext& ctx) const override;
};

// The BF16 form of one checkpoint: its tensors per shard (scales dropped, FP8 dequantized), and the
// index entries removed. Empty `shards` when the model has no FP8 weight with a scale.
struct Bf16Model {
    std::map<std::string, std::vector<TensorBytes>> shards;  // by shard file name
    std::vector<std::string> dropped_from_index;             // *_scale_inv of converted weights
};

// Computes it; an error names the file, offset and reason (used by layers/ for FP8 sources too).
Result<Bf16Model> bf16_model(const HfModel& model);

}  // namespace wfs

#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_set>

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

// The BF16 form of one checkpoint: its tensors per shard (scales dropped, FP8 and MXFP4
// dequantized), and how its index changes. Empty `shards` when nothing needed converting.
// Schemes: DeepSeek block FP8 (`W` + `W_scale_inv`, exactly fp8_cast_bf16.py), compressed-tensors
// FP8 (`X.weight` + `X.weight_scale` per tensor, channel or 128×128 block; `X.input_scale`
// dropped), and gpt-oss MXFP4 (`P_blocks` + `P_scales` → `P`, transposed as transformers does).
struct Bf16Model {
    std::map<std::string, std::vector<TensorBytes>> shards;  // by shard file name
    std::unordered_set<std::string> index_drop;             // index entries removed
    std::map<std::string, std::string> index_rename;         // index entries renamed (MXFP4 P_blocks → P)
    // model.safetensors.index.json as the script rewrites it (megabytes for a DeepSeek-sized
    // checkpoint): rendered once, shared by every view that shows it.
    std::shared_ptr<const MemoryPiece> index_text;
};

// Computes it; an error names the file, offset and reason (used by layers/ for FP8 sources too).
Result<Bf16Model> bf16_model(const HfModel& model);
// The same, computed once per checkpoint for the whole tree build.
const Result<Bf16Model>& bf16_model(ViewContext& ctx, const HfModel& model);

// Every tensor of the checkpoint in shard order, as the views that re-slice it (layers/, llama2c/)
// read it: from `model` when the checkpoint is quantized, else straight from the shards.
std::vector<TensorBytes> checkpoint_tensors(const HfModel& m, const Bf16Model& model);

// A non-shard file of the model as bf16/ shows it: the index rewritten, config.json without
// quantization_config, anything else as-is.
Result<VirtualFilePtr> bf16_side_file(const HfModel& m, const Bf16Model& model, const PlainFile& f, const std::string& view);

}  // namespace wfs

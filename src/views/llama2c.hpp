#pragma once

#include "weightfs/view.hpp"

namespace wfs {

// llama2c/: every Llama-family Hugging Face checkpoint as a llama2.c version-2 (Q8_0) model file,
// as `export.py --version 2 --hf` writes it, with k un-permuted by the KV head count (the
// upstream exporter's GQA bug is not reproduced). FP8 checkpoints are read through bf16/.
class Llama2cView final : public View {
public:
    std::string name() const override { return "llama2c"; }
    void build(ViewContext& ctx) const override;
};

}  // namespace wfs

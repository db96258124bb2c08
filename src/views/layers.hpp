#pragma once

#include "weightfs/view.hpp"

namespace wfs {

// layers/: every Hugging Face checkpoint sliced per layer — AirLLM's splitted_model/ (module
// files + .done markers) and generic embed / <N> / head / extra files — with the checkpoint's
// small files beside them. FP8 checkpoints are sliced from their bf16/ form.
class LayersView final : public View {
public:
    std::string name() const override { return "layers"; }
    void build(ViewContext& ctx) const override;
};

}  // namespace wfs

#pragma once

#include "weightfs/view.hpp"

namespace wfs {

// r4/: every GGUF (split sets merged) with its eligible tensors repacked to ik_llama.cpp's
// row-interleaved types, byte-identical to `llama-quantize --repack [--repack-pattern P]`.
class R4View final : public View {
public:
    std::string name() const override { return "r4"; }
    void build(ViewContext& ctx) const override;
};

}  // namespace wfs

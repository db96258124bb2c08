#pragma once

#include "weightfs/view.hpp"

namespace wfs {

class ConcatView final : public View {
public:
    std::string name() const override { return "concat"; }
    void build(ViewContext& ctx) const override;
};

// A split set as one merged GGUF, as `llama-gguf-split --merge` writes it (shared with r4/).
Result<VirtualFilePtr> merged_split_file(const SplitSet& set, MergeOrder order, const std::string& view);

}  // namespace wfs

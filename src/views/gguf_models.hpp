// Every GGUF model of the catalog as the views that rewrite GGUFs (r4/, layers/) see it: its KVs
// (the first shard's, for a split set) and each tensor with the file and offset of its payload.
#pragma once

#include <string>
#include <vector>

#include "formats/gguf.hpp"
#include "weightfs/view.hpp"

namespace wfs {

struct GgufTensorRef {
    gguf::TensorInfo info;
    SourceFilePtr file;
    uint64_t offset = 0;  // absolute offset of the payload in `file`
};

struct GgufModel {
    std::string rel_dir, stem;  // the model is <rel_dir>/<stem>.gguf (a split set: its prefix)
    std::vector<gguf::KeyValue> kv;
    std::vector<GgufTensorRef> tensors;
    uint32_t alignment = gguf::kDefaultAlignment;
    std::vector<std::string> sources;
    int64_t mtime = 0;
    const GgufFile* single = nullptr;
    const SplitSet* split = nullptr;
    std::string rel() const { return join_rel(rel_dir, stem + ".gguf"); }
};

// Split sets that do not merge are reported under `view` and left out.
std::vector<GgufModel> gguf_models(const Catalog& catalog, const std::string& view, std::vector<Problem>& problems);

}  // namespace wfs

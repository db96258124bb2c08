// Builds a virtual safetensors file from tensors whose bytes come from anywhere — a range of a
// source file or a transform Piece — laid out exactly as safetensors' save_file writes it.
// Shared by the views that re-pack checkpoints (bf16/, layers/).
#pragma once

#include <string>
#include <vector>

#include "formats/safetensors.hpp"
#include "weightfs/virtual_file.hpp"

namespace wfs {

struct TensorBytes {
    std::string name;
    st::Dtype dtype;
    std::vector<uint64_t> shape;
    uint64_t bytes = 0;
    SourceFilePtr file;        // a verbatim copy of file[file_offset, +bytes) ...
    uint64_t file_offset = 0;
    PiecePtr piece;            // ... or the bytes of this piece (when set)
};

VirtualFilePtr safetensors_file(std::vector<TensorBytes> tensors, const std::string& view,
                                std::vector<std::string> sources, int64_t mtime);

}  // namespace wfs

#include "views/tensor_file.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace wfs {

VirtualFilePtr safetensors_file(std::vector<TensorBytes> tensors, const std::string& view,
                                std::vector<std::string> sources, int64_t mtime) {
    std::vector<st::OutTensor> out;
    out.reserve(tensors.size());
    std::unordered_map<std::string_view, const TensorBytes*> by_name;  // into `tensors`
    by_name.reserve(tensors.size());
    for (const auto& t : tensors) {
        out.push_back({t.name, t.dtype, t.shape, t.bytes, 0});
        by_name[t.name] = &t;
    }
    ExtentListBuilder b;
    b.add_bytes(st::layout(out));  // sorts `out` into file order
    for (const auto& o : out) {
        const TensorBytes& t = *by_name.at(o.name);
        if (t.piece) b.add_piece(t.piece, 0, t.bytes);
        else b.add_copy(t.file, t.file_offset, t.bytes);
    }
    uint64_t size = b.size();
    return std::make_shared<VirtualFile>(view, b.take(), size, std::move(sources), 0444, mtime);
}

}  // namespace wfs

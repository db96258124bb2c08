#include "weightfs/virtual_file.hpp"

#include <algorithm>
#include <atomic>

namespace wfs {

namespace {
std::atomic<uint64_t> next_file_id{1};
}

VirtualFile::VirtualFile(std::string view, std::vector<Extent> extents, uint64_t size,
                         std::vector<std::string> sources, uint32_t mode, int64_t mtime)
    : view_(std::move(view)),
      extents_(std::move(extents)),
      size_(size),
      sources_(std::move(sources)),
      mode_(mode),
      mtime_(mtime),
      id_(next_file_id.fetch_add(1)) {
    // Never more readable than what it is made from: a 0600 model stays private in every view.
    const SourceFile* last = nullptr;
    for (const auto& e : extents_) {
        const SourceFile* src = e.piece ? e.piece->source() : nullptr;
        if (!src || src == last) continue;
        last = src;
        mode_ &= (src->mode() & 0777) | ~0777u;
        if (std::find(source_files_.begin(), source_files_.end(), src) == source_files_.end()) source_files_.push_back(src);
    }
}

Status VirtualFile::verify_sources() const {
    for (const SourceFile* f : source_files_) WFS_TRY(f->verify());
    return {};
}

bool VirtualFile::map_range(uint64_t offset, size_t len, std::vector<iovec>& iov,
                            std::vector<const SourceFile*>& sources, size_t max_iov) const {
    if (offset > size_ || len > size_ - offset) return false;
    auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                               [](uint64_t off, const Extent& e) { return off < e.offset + e.length; });
    while (len > 0) {
        if (it == extents_.end() || it->offset > offset) return false;
        uint64_t within = offset - it->offset;
        const uint8_t* at = nullptr;
        size_t n = it->piece->mapped(it->piece_offset + within, static_cast<size_t>(std::min<uint64_t>(len, it->length - within)), &at);
        if (n == 0 || iov.size() >= max_iov) return false;
        iov.push_back(iovec{const_cast<uint8_t*>(at), n});
        if (const SourceFile* src = it->piece->source();
            src && std::find(sources.begin(), sources.end(), src) == sources.end())
            sources.push_back(src);
        offset += n;
        len -= n;
        if (offset >= it->offset + it->length) ++it;
    }
    return true;
}

Status VirtualFile::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    if (offset > size_ || len > size_ - offset) return make_error(EIO, "internal: read past end of virtual file");
    // First extent whose end is past `offset`.
    auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                               [](uint64_t off, const Extent& e) { return off < e.offset + e.length; });
    while (len > 0) {
        if (it == extents_.end() || it->offset > offset) return make_error(EIO, "internal: extent list has a gap");
        uint64_t within = offset - it->offset;
        size_t n = static_cast<size_t>(std::min<uint64_t>(len, it->length - within));
        WFS_TRY(it->piece->produce(it->piece_offset + within, n, dst));
        dst += n;
        offset += n;
        len -= n;
        ++it;
    }
    return {};
}

}  // namespace wfs

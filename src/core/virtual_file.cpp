#include "weightfs/virtual_file.hpp"

#include <algorithm>
#include <atomic>
#include <new>
#include <string>

namespace wfs {

namespace {
std::atomic<uint64_t> next_file_id{1};

// The error for an exception out of a transform; its message is best effort (memory may be short).
Error failure(int code, const char* what, uint64_t offset, size_t len) noexcept {
    Error e{code, {}, offset};
    try {
        e.message = std::string(what) + " producing bytes [" + std::to_string(offset) + ", " + std::to_string(offset + len) + ")";
    } catch (...) {
    }
    return e;
}
}  // namespace

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

const SourceFile* VirtualFile::whole_source() const {
    if (extents_.size() != 1) return nullptr;
    const Extent& e = extents_.front();
    auto* copy = dynamic_cast<const CopyPiece*>(e.piece.get());
    if (!copy || e.offset != 0 || copy->base() + e.piece_offset != 0) return nullptr;
    const SourceFile* src = copy->source();
    return e.length == size_ && src->size() == size_ ? src : nullptr;
}

Status VirtualFile::verify_sources() const {
    for (const SourceFile* f : source_files_) WFS_TRY(f->verify());
    return {};
}

// Walks the extents over [offset, offset+len) in order: step(extent, offset within it, bytes
// wanted) returns how many bytes it took (0 stops the walk). False when the walk stopped early,
// or the extent list has a gap. The one extent walk behind produce() and map_range().
template <class Step>
bool VirtualFile::walk(uint64_t offset, size_t len, Step step) const {
    // First extent whose end is past `offset`.
    auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                               [](uint64_t off, const Extent& e) { return off < e.offset + e.length; });
    while (len > 0) {
        if (it == extents_.end() || it->offset > offset) return false;
        const uint64_t within = offset - it->offset;
        const size_t took = step(*it, within, static_cast<size_t>(std::min<uint64_t>(len, it->length - within)));
        if (took == 0) return false;
        offset += took;
        len -= took;
        if (offset >= it->offset + it->length) ++it;
    }
    return true;
}

bool VirtualFile::map_range(uint64_t offset, size_t len, std::vector<iovec>& iov,
                            std::vector<const SourceFile*>& sources, size_t max_iov) const {
    if (offset > size_ || len > size_ - offset) return false;
    return walk(offset, len, [&](const Extent& e, uint64_t within, size_t n) -> size_t {
        const uint8_t* at = nullptr;
        const size_t got = e.piece->mapped(e.piece_offset + within, n, &at);
        if (got == 0 || iov.size() >= max_iov) return 0;
        iov.push_back(iovec{const_cast<uint8_t*>(at), got});
        if (const SourceFile* src = e.piece->source(); src && std::find(sources.begin(), sources.end(), src) == sources.end())
            sources.push_back(src);
        return got;
    });
}

Status VirtualFile::produce(uint64_t offset, size_t len, uint8_t* dst) const noexcept {
    if (offset > size_ || len > size_ - offset) return make_error(EIO, "internal: read past end of virtual file");
    try {
        Status produced;
        const bool whole = walk(offset, len, [&](const Extent& e, uint64_t within, size_t n) -> size_t {
            produced = e.piece->produce(e.piece_offset + within, n, dst);
            if (!produced) return 0;
            dst += n;
            return n;
        });
        if (!produced) return produced;
        if (!whole) return make_error(EIO, "internal: extent list has a gap");
        return {};
    } catch (const std::bad_alloc&) {
        return failure(ENOMEM, "out of memory", offset, len);
    } catch (const std::exception& e) {
        return failure(EIO, e.what(), offset, len);
    }
}

}  // namespace wfs

#include "weightfs/extent.hpp"

#include <lz4.h>

#include <algorithm>
#include <cstring>

namespace wfs {

MemoryPiece::MemoryPiece(std::vector<uint8_t> bytes) : size_(bytes.size()) {
    if (bytes.size() < kPackFrom || bytes.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
        bytes_ = std::move(bytes);
        return;
    }
    std::vector<uint8_t> block(static_cast<size_t>(LZ4_compressBound(static_cast<int>(bytes.size()))));
    const int n = LZ4_compress_default(reinterpret_cast<const char*>(bytes.data()), reinterpret_cast<char*>(block.data()),
                                       static_cast<int>(bytes.size()), static_cast<int>(block.size()));
    if (n <= 0 || static_cast<size_t>(n) > bytes.size() / 2) {  // incompressible: keep it plain
        bytes_ = std::move(bytes);
        return;
    }
    block.resize(static_cast<size_t>(n));
    block.shrink_to_fit();
    bytes_ = std::move(block);
    packed_ = true;
}

Status MemoryPiece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    if (offset > size_ || len > size_ - offset) return make_error(EIO, "internal: memory piece read out of range");
    if (!packed_) {
        std::memcpy(dst, bytes_.data() + offset, len);
        return {};
    }
    // A block decodes from its start: decode the prefix up to the end of the range (straight
    // into dst when the range starts at 0) and keep the tail.
    const size_t upto = static_cast<size_t>(offset) + len;
    std::unique_ptr<uint8_t[]> scratch;
    uint8_t* out = dst;
    if (offset > 0) out = (scratch = std::make_unique<uint8_t[]>(upto)).get();
    const int got = LZ4_decompress_safe_partial(reinterpret_cast<const char*>(bytes_.data()), reinterpret_cast<char*>(out),
                                                static_cast<int>(bytes_.size()), static_cast<int>(upto), static_cast<int>(upto));
    if (got < 0 || static_cast<size_t>(got) < upto) return make_error(EIO, "internal: a packed header did not decompress");
    if (scratch) std::memcpy(dst, scratch.get() + offset, len);
    return {};
}

Status CopyPiece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    return file_->read_exact(base_ + offset, len, dst);
}

size_t MemoryPiece::mapped(uint64_t offset, size_t len, const uint8_t** at) const {
    if (packed_ || offset > size_ || len > size_ - offset) return 0;
    *at = bytes_.data() + offset;
    return len;
}

size_t CopyPiece::mapped(uint64_t offset, size_t len, const uint8_t** at) const {
    const uint8_t* m = file_->mapping();
    if (!m || base_ + offset > file_->size() || len > file_->size() - base_ - offset) return 0;
    *at = m + base_ + offset;
    return len;
}

size_t ZeroPiece::mapped(uint64_t, size_t len, const uint8_t** at) const {
    alignas(64) static const uint8_t zeros[64 << 10] = {};
    *at = zeros;
    return std::min(len, sizeof zeros);
}

Status ZeroPiece::produce(uint64_t, size_t len, uint8_t* dst) const {
    std::memset(dst, 0, len);
    return {};
}

void ExtentListBuilder::add_piece(PiecePtr piece, uint64_t piece_offset, uint64_t length) {
    if (length == 0) return;
    extents_.push_back(Extent{size_, length, std::move(piece), piece_offset});
    size_ += length;
}

void ExtentListBuilder::add_bytes(std::vector<uint8_t> bytes) {
    uint64_t n = bytes.size();
    add_piece(std::make_shared<MemoryPiece>(std::move(bytes)), 0, n);
}

void ExtentListBuilder::add_copy(const SourceFilePtr& file, uint64_t file_offset, uint64_t length) {
    if (length == 0) return;
    // Extend the previous extent when this copy continues it in the same file.
    if (!extents_.empty()) {
        Extent& last = extents_.back();
        auto* prev = dynamic_cast<const CopyPiece*>(last.piece.get());
        if (prev && prev->source() == file.get() && prev->base() + last.piece_offset + last.length == file_offset) {
            last.length += length;
            size_ += length;
            return;
        }
    }
    add_piece(std::make_shared<CopyPiece>(file, 0), file_offset, length);
}

void ExtentListBuilder::add_zeros(uint64_t length) {
    if (length == 0) return;
    if (!extents_.empty() && dynamic_cast<const ZeroPiece*>(extents_.back().piece.get())) {
        extents_.back().length += length;
        size_ += length;
        return;
    }
    static const auto zeros = std::make_shared<ZeroPiece>();
    add_piece(zeros, 0, length);
}

}  // namespace wfs

#include "weightfs/extent.hpp"

#include <lz4.h>

#include <algorithm>
#include <cstring>

namespace wfs {

MemoryPiece::MemoryPiece(std::vector<uint8_t> bytes) : size_(bytes.size()) {
    if (bytes.size() < kPackFrom) {
        bytes_ = std::move(bytes);
        return;
    }
    std::vector<uint8_t> packed;
    std::vector<uint64_t> ends;
    std::vector<char> block(static_cast<size_t>(LZ4_compressBound(static_cast<int>(kBlock))));
    for (size_t at = 0; at < bytes.size(); at += kBlock) {
        const int raw = static_cast<int>(std::min(kBlock, bytes.size() - at));
        const int n = LZ4_compress_default(reinterpret_cast<const char*>(bytes.data() + at), block.data(), raw,
                                           static_cast<int>(block.size()));
        if (n <= 0) break;
        packed.insert(packed.end(), block.begin(), block.begin() + n);
        ends.push_back(packed.size());
    }
    if (ends.size() * kBlock < bytes.size() || packed.size() > bytes.size() / 2) {  // incompressible: keep it plain
        bytes_ = std::move(bytes);
        return;
    }
    packed.shrink_to_fit();
    bytes_ = std::move(packed);
    block_ends_ = std::move(ends);
}

Status MemoryPiece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    if (offset > size_ || len > size_ - offset) return make_error(EIO, "internal: memory piece read out of range");
    if (!packed()) {
        std::memcpy(dst, bytes_.data() + offset, len);
        return {};
    }
    // Block by block: a block the range covers decodes straight into dst; one it starts or
    // ends inside decodes (up to where the range ends in it) into a block-sized scratch.
    std::vector<uint8_t> scratch;
    while (len > 0) {
        const uint64_t b = offset / kBlock, start = b * kBlock, within = offset - start;
        const size_t raw = static_cast<size_t>(std::min<uint64_t>(kBlock, size_ - start));
        const size_t take = std::min(len, raw - within);
        const uint64_t from = b == 0 ? 0 : block_ends_[b - 1];
        const char* src = reinterpret_cast<const char*>(bytes_.data() + from);
        const int src_len = static_cast<int>(block_ends_[b] - from);
        bool ok;
        if (within == 0 && take == raw) {
            ok = LZ4_decompress_safe(src, reinterpret_cast<char*>(dst), src_len, static_cast<int>(raw)) == static_cast<int>(raw);
        } else {
            const int want = static_cast<int>(within + take);
            scratch.resize(kBlock);
            ok = LZ4_decompress_safe_partial(src, reinterpret_cast<char*>(scratch.data()), src_len, want, static_cast<int>(kBlock)) >= want;
            if (ok) std::memcpy(dst, scratch.data() + within, take);
        }
        if (!ok) return make_error(EIO, "internal: a packed header did not decompress");
        offset += take;
        dst += take;
        len -= take;
    }
    return {};
}

Status CopyPiece::produce(uint64_t offset, size_t len, uint8_t* dst) const {
    return file_->read_exact(base_ + offset, len, dst);
}

size_t MemoryPiece::mapped(uint64_t offset, size_t len, const uint8_t** at) const {
    if (packed() || offset > size_ || len > size_ - offset) return 0;
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

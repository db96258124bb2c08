// Extents: a virtual file is header bytes followed by extents, each a byte range of the output
// produced by one Piece. A Piece is a pure function from its own offsets to bytes, so any
// sub-range of any extent can be produced alone — the property that makes lazy, chunked,
// parallel serving possible. Later views add Pieces (repack, dequant) without touching this.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "weightfs/result.hpp"
#include "weightfs/source_file.hpp"

namespace wfs {

class Piece {
public:
    virtual ~Piece() = default;
    // Writes bytes [offset, offset+len) of this piece to dst.
    virtual Status produce(uint64_t offset, size_t len, uint8_t* dst) const = 0;
    // The source file this piece reads, if any (for xattrs and error messages).
    virtual const SourceFile* source() const { return nullptr; }
    // Where bytes from `offset` of this piece already sit in memory, unchanged — a header's
    // bytes, a source's own mapped pages — so a reply can point at them instead of producing a
    // copy: sets *at and returns how many of the `len` wanted are there (0: they must be produced).
    virtual size_t mapped(uint64_t /*offset*/, size_t /*len*/, const uint8_t** /*at*/) const { return 0; }
};

using PiecePtr = std::shared_ptr<const Piece>;

// Bytes held in memory (headers and indexes built at scan time). Large ones are kept
// LZ4-compressed — a DeepSeek-sized checkpoint's rewritten safetensors headers and index are
// ~28 MB of JSON that compresses 6-25x — in independent 64 KiB blocks, so a read decodes only
// the blocks it touches, into the chunk that asks for them; small ones (most GGUF headers) are
// served in place.
class MemoryPiece final : public Piece {
public:
    explicit MemoryPiece(std::vector<uint8_t> bytes);
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    size_t mapped(uint64_t offset, size_t len, const uint8_t** at) const override;  // 0 when packed
    uint64_t size() const { return size_; }
    bool packed() const { return !block_ends_.empty(); }

    static constexpr size_t kPackFrom = 16 << 10;  // smaller: not worth a decompression per read
    static constexpr size_t kBlock = 64 << 10;     // raw bytes per block: LZ4's window, so no ratio is lost

private:
    std::vector<uint8_t> bytes_;          // the bytes, or their LZ4 blocks back to back
    std::vector<uint64_t> block_ends_;    // packed: where each block's compressed bytes end in bytes_
    uint64_t size_;
};

// A byte range of a source file, copied verbatim.
class CopyPiece final : public Piece {
public:
    CopyPiece(SourceFilePtr file, uint64_t base) : file_(std::move(file)), base_(base) {}
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    const SourceFile* source() const override { return file_.get(); }
    size_t mapped(uint64_t offset, size_t len, const uint8_t** at) const override;
    uint64_t base() const { return base_; }

private:
    SourceFilePtr file_;
    uint64_t base_;
};

// Zero bytes (alignment padding).
class ZeroPiece final : public Piece {
public:
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    size_t mapped(uint64_t offset, size_t len, const uint8_t** at) const override;  // 64 KiB at a time
};

struct Extent {
    uint64_t offset = 0;        // where the extent starts in the virtual file
    uint64_t length = 0;
    PiecePtr piece;
    uint64_t piece_offset = 0;  // where in the piece the extent starts
};

// Builds a sorted, gap-free extent list, merging adjacent copies of one source range.
class ExtentListBuilder {
public:
    void add_bytes(std::vector<uint8_t> bytes);
    void add_copy(const SourceFilePtr& file, uint64_t file_offset, uint64_t length);
    void add_zeros(uint64_t length);
    void add_piece(PiecePtr piece, uint64_t piece_offset, uint64_t length);
    uint64_t size() const { return size_; }
    std::vector<Extent> take() { return std::move(extents_); }

private:
    std::vector<Extent> extents_;
    uint64_t size_ = 0;
};

}  // namespace wfs

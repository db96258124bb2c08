// ik_llama.cpp row-interleaved repacking (reference/r4-repack.md §3, §5): groups of N consecutive
// rows become "block-major" R-blocks holding block b of all N rows. Sizes never change, and a
// group of N rows maps to the same byte range of the output, so any output range is computable
// from the source groups it covers. Integer work only (plus the F16 → BF16 truncation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "transforms/repack_simd.hpp"
#include "weightfs/extent.hpp"

namespace wfs::repack {

struct Entry {
    int32_t src_type, dst_type;
    unsigned rows;          // N: rows interleaved per group
    unsigned block_bytes;   // bytes of one source block (for BF16/F16: one pair of elements)
    // Writes one R-block (rows × block_bytes bytes) from block b of each of the N rows.
    void (*rblock)(const uint8_t* const* blocks, uint8_t* out);
    // Which vectorized group kernel the type has (repack_simd.hpp), if any.
    simd::Layout simd = {};
    // Bytes of per-row data before a row's blocks (IQ4_KS, IQ5_KS, IQ2_BN: an f32 scale): a
    // group starts with those of its N rows, one after another, then the R-blocks.
    unsigned row_meta = 0;
};

// Best: the widest vectorized kernel this CPU runs; Avx2, Sse2: the best at most at that level
// even where a wider one is there (so the tests hold every form to the scalar reference);
// Scalar: the reference.
enum class Kernel { Best, Avx2, Sse2, Scalar };

// The repack table entry for a source type; BF16/F16 only when `bf16` is set (ik builds them
// only with __AVX512BF16__). nullptr when the type is not repacked.
const Entry* find(int32_t src_type, bool bf16);
// Every table entry, BF16 and F16 last (for the bench's and the tests' lists of kernels).
std::vector<const Entry*> entries();
// For a type ik's --repack converts with a layout weightfs does not implement (Q8_K, Q8_KV:
// their rows change size), the rows it interleaves; 0 otherwise. A file with such a tensor
// eligible is refused, never served with that tensor left as it was (not ik's bytes).
unsigned unimplemented_rows(int32_t src_type);

// Repacks `groups` consecutive groups of entry.rows rows of `row_bytes` each from `in` to `out`,
// with the vectorized kernel where the type has one (Kernel::Scalar forces the reference path).
void repack_groups(const Entry& e, const uint8_t* in, uint8_t* out, size_t row_bytes, size_t groups,
                   Kernel kernel = Kernel::Best);
// Which kernel Kernel::Best runs for this type: "avx512", "avx2", "sse2" or "scalar".
const char* kernel_isa(const Entry& e);

// general.file_type after repacking (llama-quantize's repacked_ftype()); unchanged when not mapped.
uint32_t repacked_ftype(uint32_t ftype);

// The bytes of one repacked tensor: source payload at `offset` in `file`.
class RepackPiece final : public Piece {
public:
    RepackPiece(const Entry& entry, SourceFilePtr file, uint64_t offset, uint64_t row_bytes);
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override;
    const SourceFile* source() const override { return file_.get(); }

private:
    const Entry& entry_;
    SourceFilePtr file_;
    uint64_t offset_, row_bytes_, group_bytes_;
};

}  // namespace wfs::repack

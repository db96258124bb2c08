// The ggml tensor type table: mainline ids plus ik_llama.cpp's additions (reference/gguf.md §1.6).
// Only geometry lives here (block size, bytes per block, per-row metadata); it is all a
// byte-exact GGUF reader/merger needs. Ids that both projects removed are absent.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace wfs::ggml {

struct TypeTraits {
    int32_t id;
    std::string_view name;
    uint32_t block_elems;   // elements per block (1 for plain floats/ints)
    uint32_t block_bytes;   // bytes per block
    uint32_t row_meta;      // ik: bytes of per-row metadata before the blocks (row scales)
};

// Looks up a type id; nullopt for unknown or removed ids.
const TypeTraits* find_type(int32_t id);

namespace type {
inline constexpr int32_t F32 = 0, F16 = 1, Q4_0 = 2, Q5_0 = 6, Q8_0 = 8, Q2_K = 10, Q3_K = 11, Q4_K = 12,
                         Q5_K = 13, Q6_K = 14, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ4_NL = 20, IQ3_S = 21,
                         IQ2_S = 22, IQ4_XS = 23, BF16 = 30, I2_S = 36, MXFP4 = 39;
}

// Bytes of a tensor of this type and shape, or nullopt when the shape is not a whole number of
// blocks per row or the size overflows 64 bits.
std::optional<uint64_t> tensor_nbytes(const TypeTraits& t, const int64_t ne[4]);

}  // namespace wfs::ggml

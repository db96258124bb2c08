#include "formats/ggml_types.hpp"

#include <array>

namespace wfs::ggml {

namespace {

// Mainline: ggml.h type enum and ggml-common.h block structs. ik: ik ggml.h/ggml-common.h.
// Row metadata sizes are ik's row_meta_size (reference/gguf.md §1.6, second table).
constexpr std::array<TypeTraits, 96> kTypes{{
    {0, "F32", 1, 4, 0},          {1, "F16", 1, 2, 0},          {2, "Q4_0", 32, 18, 0},
    {3, "Q4_1", 32, 20, 0},       {6, "Q5_0", 32, 22, 0},       {7, "Q5_1", 32, 24, 0},
    {8, "Q8_0", 32, 34, 0},       {9, "Q8_1", 32, 36, 0},       {10, "Q2_K", 256, 84, 0},
    {11, "Q3_K", 256, 110, 0},    {12, "Q4_K", 256, 144, 0},    {13, "Q5_K", 256, 176, 0},
    {14, "Q6_K", 256, 210, 0},    {15, "Q8_K", 256, 292, 0},    {16, "IQ2_XXS", 256, 66, 0},
    {17, "IQ2_XS", 256, 74, 0},   {18, "IQ3_XXS", 256, 98, 0},  {19, "IQ1_S", 256, 50, 0},
    {20, "IQ4_NL", 32, 18, 0},    {21, "IQ3_S", 256, 110, 0},   {22, "IQ2_S", 256, 82, 0},
    {23, "IQ4_XS", 256, 136, 0},  {24, "I8", 1, 1, 0},          {25, "I16", 1, 2, 0},
    {26, "I32", 1, 4, 0},         {27, "I64", 1, 8, 0},         {28, "F64", 1, 8, 0},
    {29, "IQ1_M", 256, 56, 0},    {30, "BF16", 1, 2, 0},        {34, "TQ1_0", 256, 54, 0},
    {35, "TQ2_0", 256, 66, 0},    {39, "MXFP4", 32, 17, 0},     {40, "NVFP4", 64, 36, 0},
    {41, "Q1_0", 128, 18, 0},     {42, "Q2_0", 64, 18, 0},
    // ik_llama.cpp (31-33 are still valid there; 36 is I2_S, sized specially)
    {31, "Q4_0_4_4", 32, 18, 0},  {32, "Q4_0_4_8", 32, 18, 0},  {33, "Q4_0_8_8", 32, 18, 0},
    {36, "I2_S", 1, 1, 0},        {97, "Q8_0_X4", 32, 34, 0},   {98, "Q8_1_X4", 32, 36, 0},
    {99, "Q8_2_X4", 32, 36, 0},   {133, "Q6_0", 32, 26, 0},     {134, "IQ1_BN", 64, 13, 2},
    {135, "IQ2_BN", 64, 16, 4},   {136, "Q8_K64", 64, 68, 0},   {137, "IQ2_K", 256, 76, 0},
    {138, "IQ3_K", 256, 110, 0},  {139, "IQ4_K", 256, 144, 0},  {140, "IQ5_K", 256, 176, 0},
    {141, "IQ6_K", 256, 212, 0},  {144, "IQ4_KS", 256, 136, 4}, {145, "IQ2_KS", 256, 70, 2},
    {146, "IQ4_KSS", 256, 128, 4}, {147, "Q8_K16", 64, 64, 20}, {148, "Q8_K32", 256, 296, 0},
    {149, "Q8_KR8", 256, 296, 0}, {150, "Q8_K128", 128, 140, 0}, {151, "Q8_KV", 32, 32, 8},
    {152, "IQ5_KS", 256, 168, 4}, {153, "IQ2_KT", 256, 68, 4},  {154, "IQ3_KT", 256, 100, 4},
    {155, "IQ4_KT", 256, 128, 4}, {156, "IQ3_KS", 256, 102, 2}, {157, "IQ2_KL", 256, 86, 2},
    {158, "IQ1_KT", 256, 56, 4},
    // ik row-interleaved types (reference/r4-repack.md §3)
    {202, "Q4_0_R8", 32, 18, 0},  {206, "Q5_0_R4", 32, 22, 0},  {208, "Q8_0_R8", 32, 34, 0},
    {210, "Q2_K_R4", 256, 84, 0}, {211, "Q3_K_R4", 256, 110, 0}, {212, "Q4_K_R4", 256, 144, 0},
    {213, "Q5_K_R4", 256, 176, 0}, {214, "Q6_K_R4", 256, 210, 0}, {216, "IQ2_XXS_R4", 256, 66, 0},
    {217, "IQ2_XS_R4", 256, 74, 0}, {218, "IQ3_XXS_R4", 256, 98, 0}, {219, "IQ1_S_R4", 32, 6, 2},
    {220, "IQ4_NL_R4", 32, 18, 0}, {221, "IQ3_S_R4", 256, 110, 0}, {222, "IQ2_S_R4", 256, 82, 0},
    {223, "IQ4_XS_R8", 256, 136, 0}, {229, "IQ1_M_R4", 32, 7, 2}, {230, "BF16_R16", 1, 2, 0},
    {233, "Q6_0_R4", 32, 26, 0},  {335, "IQ2_BN_R4", 64, 16, 4}, {337, "IQ2_K_R4", 256, 76, 0},
    {338, "IQ3_K_R4", 256, 110, 0}, {339, "IQ4_K_R4", 256, 144, 0}, {340, "IQ5_K_R4", 256, 176, 0},
    {344, "IQ4_KS_R4", 256, 136, 4}, {352, "IQ5_KS_R4", 256, 168, 4}, {353, "MXFP4_R8", 32, 17, 0},
    {397, "Q8_K_R16", 256, 258, 0}, {398, "Q8_KV_R8", 32, 32, 4}, {399, "Q8_K_R8", 256, 258, 0},
}};

}  // namespace

const TypeTraits* find_type(int32_t id) {
    for (const auto& t : kTypes)
        if (t.id == id) return &t;
    return nullptr;
}

std::optional<uint64_t> tensor_nbytes(const TypeTraits& t, const int64_t ne[4]) {
    for (int i = 0; i < 4; ++i)
        if (ne[i] < 0) return std::nullopt;
    uint64_t n0 = static_cast<uint64_t>(ne[0]);
    if (t.id == type::I2_S) {
        // ik BitNet I2_S: 2 bits per element plus a 32-byte trailer for the scale.
        uint64_t elems = n0;
        for (int i = 1; i < 4; ++i)
            if (__builtin_mul_overflow(elems, static_cast<uint64_t>(ne[i]), &elems)) return std::nullopt;
        return elems / 4 + 32;
    }
    if (n0 % t.block_elems != 0) return std::nullopt;
    uint64_t row = 0, total = 0;
    if (__builtin_mul_overflow(n0 / t.block_elems, uint64_t{t.block_bytes}, &row)) return std::nullopt;
    if (__builtin_add_overflow(row, uint64_t{t.row_meta}, &row)) return std::nullopt;
    total = row;
    for (int i = 1; i < 4; ++i)
        if (__builtin_mul_overflow(total, static_cast<uint64_t>(ne[i]), &total)) return std::nullopt;
    if (ne[1] == 0 || ne[2] == 0 || ne[3] == 0 || ne[0] == 0) return uint64_t{0};
    return total;
}

}  // namespace wfs::ggml

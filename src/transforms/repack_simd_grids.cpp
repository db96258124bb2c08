// Repack kernels for the grid i-quants — IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S — whose R-blocks
// interleave the rows' grid indices, scales and sign fields, the signs re-encoded on the way.
#include <array>

#include "transforms/repack_simd_ops.hpp"

namespace wfs::repack::simd {

#if defined(__x86_64__)
namespace {

// The i-quants whose R-blocks are 4-byte, 8-byte or byte interleaves of the 4 rows' fields, some
// with a bijective bit transform on the way (reference/r4-repack.md §5.11–5.14).

// scrambled_sas() of 8 words at once. The four 7-bit sign fields s_j are spread one per byte with
// their scale bit above them (byte j = s_j | scale_j << 7); then P(s_j) << 1 | scale_j comes from
// two 16-entry byte tables XOR'd: the low nibble's prefix-XOR (its parity also flips the prefix
// bits above it), and the high nibble's — 3 sign bits and the scale bit — prefix-XOR and scale.
constexpr auto kSasLow = [] {
    std::array<uint8_t, 16> t{};
    for (unsigned l = 0; l < 16; ++l) {
        unsigned p = 0, acc = 0;
        for (int b = 0; b < 4; ++b) p |= (acc ^= (l >> b) & 1) << b;
        t[l] = static_cast<uint8_t>((p | (acc ? 0x70 : 0)) << 1);
    }
    return t;
}();
constexpr auto kSasHigh = [] {
    std::array<uint8_t, 16> t{};
    for (unsigned h = 0; h < 16; ++h) {
        unsigned p = 0, acc = 0;
        for (int b = 0; b < 3; ++b) p |= (acc ^= (h >> b) & 1) << b;
        t[h] = static_cast<uint8_t>(p << 5 | h >> 3);
    }
    return t;
}();
__attribute__((target("avx2"))) inline __m256i masked_shl(__m256i x, int n, uint32_t mask) {
    return _mm256_and_si256(_mm256_slli_epi32(x, n), _mm256_set1_epi32(static_cast<int>(mask)));
}
__attribute__((target("avx2"))) inline __m256i masked_shr(__m256i x, int n, uint32_t mask) {
    return _mm256_and_si256(_mm256_srli_epi32(x, n), _mm256_set1_epi32(static_cast<int>(mask)));
}
__attribute__((target("avx2"))) inline __m256i scrambled_sas8(__m256i w) {
    const __m256i fields = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(w, _mm256_set1_epi32(0x7F)), masked_shl(w, 1, 0x7F00u)),
                                           _mm256_or_si256(masked_shl(w, 2, 0x7F0000u), masked_shl(w, 3, 0x7F000000u)));
    const __m256i scales = _mm256_or_si256(_mm256_or_si256(masked_shr(w, 21, 0x80u), masked_shr(w, 14, 0x8000u)),
                                           _mm256_or_si256(masked_shr(w, 7, 0x800000u), _mm256_and_si256(w, _mm256_set1_epi32(static_cast<int>(0x80000000u)))));
    const __m256i x = _mm256_or_si256(fields, scales), nibble = _mm256_set1_epi8(15);
    const __m256i low = _mm256_broadcastsi128_si256(load128(kSasLow.data())), high = _mm256_broadcastsi128_si256(load128(kSasHigh.data()));
    return _mm256_xor_si256(_mm256_shuffle_epi8(low, _mm256_and_si256(x, nibble)),
                            _mm256_shuffle_epi8(high, _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble)));
}

// IQ2_XXS (66-byte blocks: d, then per sub-block 4 grid bytes and a signs-and-scale word):
// out d[4], sas[128] (word 4ib + k), qs[128] (word 4ib + k).
__attribute__((target("avx2"))) void iq2xxs_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 66;
    const __m256i split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);  // grid words to lane 0, sign words to lane 1
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        __m256i q[4], w[4];
        for (int k = 0; k < 4; ++k) {
            const __m256i a = _mm256_permutevar8x32_epi32(load256(rows[k] + 2), split);
            const __m256i c = _mm256_permutevar8x32_epi32(load256(rows[k] + 34), split);
            q[k] = _mm256_permute2x128_si256(a, c, 0x20);
            w[k] = scrambled_sas8(_mm256_permute2x128_si256(a, c, 0x31));
        }
        store_words4x8(w, dst + 8);
        store_words4x8(q, dst + 136);
    }
}

// IQ3_XXS (98-byte blocks: d, 64 grid bytes, 8 signs-and-scale words): out d[4], sas[128]
// (word 4ib + k), qs[256] (8 bytes at 32ib + 8k).
__attribute__((target("avx2"))) void iq3xxs_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 98;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        __m256i w[4];
        for (int k = 0; k < 4; ++k) w[k] = scrambled_sas8(load256(rows[k] + 66));
        store_words4x8(w, dst + 8);
        __m256i grid[8];
        for (int k = 0; k < 4; ++k) {
            grid[2 * k] = load256(rows[k] + 2);
            grid[2 * k + 1] = load256(rows[k] + 34);
        }
        store_qwords4x8(grid, dst + 136);
    }
}

// scrambled_sas8() in four instructions (AVX-512 VBMI and GFNI): two multishifts pick each
// byte's 8 bits at any offset of its 64-bit lane — sign field j (bits 7j…) and, for bit 7,
// scale bit j (bit 28 + j), of each of the lane's two words — merged by a bit select; and the
// byte map s | c << 7 → P(s) << 1 | c is linear over GF(2), so one affine transform does it
// (matrix row i, in byte 7 - i, names the input bits XOR'd into output bit i: bit 0 takes the
// scale bit, bit i the sign bits 0..i-1).
#define WFS_AVX512 "avx2,f16c,avx512f,avx512bw,avx512vl,avx512vbmi,gfni"
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's multishift intrinsic: its unused pass-through operand
#endif
__attribute__((target(WFS_AVX512))) inline __m256i scrambled_sas8_avx512(__m256i w) {
    const __m256i fields = _mm256_multishift_epi64_epi8(_mm256_set1_epi64x(0x352E2720150E0700ll), w);
    const __m256i scales = _mm256_multishift_epi64_epi8(_mm256_set1_epi64x(0x3837363518171615ll), w);
    const __m256i x = _mm256_ternarylogic_epi32(fields, scales, _mm256_set1_epi8(0x7F), 0xE4);  // fields where the mask is set
    return _mm256_gf2p8affine_epi64_epi8(x, _mm256_set1_epi64x(static_cast<long long>(0x800103070F1F3F7Full)), 0);
}
// iq2xxs_avx2() and iq3xxs_avx2() with it (GCC cannot share a loop across target levels).
__attribute__((target(WFS_AVX512))) void iq2xxs_avx512(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 66;
    const __m256i split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        __m256i q[4], w[4];
        for (int k = 0; k < 4; ++k) {
            const __m256i a = _mm256_permutevar8x32_epi32(load256(rows[k] + 2), split);
            const __m256i c = _mm256_permutevar8x32_epi32(load256(rows[k] + 34), split);
            q[k] = _mm256_permute2x128_si256(a, c, 0x20);
            w[k] = scrambled_sas8_avx512(_mm256_permute2x128_si256(a, c, 0x31));
        }
        store_words4x8(w, dst + 8);
        store_words4x8(q, dst + 136);
    }
}
__attribute__((target(WFS_AVX512))) void iq3xxs_avx512(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 98;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        __m256i w[4];
        for (int k = 0; k < 4; ++k) w[k] = scrambled_sas8_avx512(load256(rows[k] + 66));
        store_words4x8(w, dst + 8);
        __m256i grid[8];
        for (int k = 0; k < 4; ++k) {
            grid[2 * k] = load256(rows[k] + 2);
            grid[2 * k + 1] = load256(rows[k] + 34);
        }
        store_qwords4x8(grid, dst + 136);
    }
}
#pragma GCC diagnostic pop
#undef WFS_AVX512

// IQ2_XS (74-byte blocks: d, 32 16-bit grid-and-signs words, 8 scale bytes): each word's 7 sign
// bits prefix-XOR'd (16-bit shifts keep them in their word), 4 words of a sub-block per row
// side by side (8 bytes at 32ib + 8k), scales interleaved.
__attribute__((target("avx2"))) void iq2xs_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 74;
    const __m256i signs = _mm256_set1_epi16(static_cast<short>(0xFE00));
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        __m256i words[8];
        for (int k = 0; k < 4; ++k)
            for (int half = 0; half < 2; ++half) {
                const __m256i v = load256(rows[k] + 2 + 32 * half);
                __m256i p = _mm256_and_si256(v, signs);
                p = _mm256_xor_si256(p, _mm256_slli_epi16(p, 1));
                p = _mm256_xor_si256(p, _mm256_slli_epi16(p, 2));
                p = _mm256_xor_si256(p, _mm256_slli_epi16(p, 4));
                words[2 * k + half] = _mm256_or_si256(_mm256_andnot_si256(signs, v), p);
            }
        store_qwords4x8(words, dst + 8);
        __m128i sc[4];
        for (int k = 0; k < 4; ++k) sc[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[k] + 66));
        interleave4(sc, dst + 264, 8);
    }
}

// IQ2_S (82-byte blocks: d, 32 grid bytes, 32 sign bytes, qh[8], scales[8]): a pure byte shuffle,
// out d[4], qs[128] and signs[128] (word 4ib + k each), qh[32] and scales[32] interleaved.
__attribute__((target("avx2"))) void iq2s_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 82;
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        __m256i q[4], s[4];
        __m128i h[4], sc[4];
        for (int k = 0; k < 4; ++k) {
            q[k] = load256(rows[k] + 2);
            s[k] = load256(rows[k] + 34);
            h[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[k] + 66));
            sc[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[k] + 74));
        }
        store_words4x8(q, dst + 8);
        interleave4(h, dst + 136, 8);
        store_words4x8(s, dst + 168);
        interleave4(sc, dst + 296, 8);
    }
}

// IQ3_S (110-byte blocks: d, qs[64], qh[8], signs[32], scales[4]): out d[4]; qs[256] with byte
// 4hh + i of each 8 reordered to 2i + hh, then interleaved; qh[32]; signs[128], each row's 4 sign
// bytes m of a sub-block turned into 4 bytes i holding bits i and 4 + i of every m at 2m, 2m + 1
// (bit 8m + 4h + i to 8i + 2m + h: the 5-bit index rotated by 2, four delta swaps), word 4ib + k;
// scales[16], nibbles paired as IQ2_K's.
__attribute__((target("avx2"))) void iq3s_avx2(const uint8_t* src, uint8_t* dst, size_t row_bytes, size_t nb) {
    constexpr size_t block = 110;
    const __m128i order = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    for (size_t b = 0; b < nb; ++b, src += block, dst += 4 * block) {
        const uint8_t* rows[4] = {src, src + row_bytes, src + 2 * row_bytes, src + 3 * row_bytes};
        prefetch_rows(rows, block);
        d4(rows, dst);
        for (int pair = 0; pair < 4; ++pair) {  // sub-blocks 2·pair, 2·pair + 1
            __m128i q[4];
            for (int k = 0; k < 4; ++k) q[k] = _mm_shuffle_epi8(load128(rows[k] + 2 + 16 * pair), order);
            interleave4(q, dst + 8 + 64 * pair, 16);
        }
        __m128i h[4], sc[4];
        __m256i sg[4];
        for (int k = 0; k < 4; ++k) {
            h[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[k] + 66));
            __m256i x = load256(rows[k] + 74);
            x = delta_swap(x, 14, 0x0000CCCCu);  // index bits (m1 m0 h i1 i0): swap 4 and 1,
            x = delta_swap(x, 7, 0x00AA00AAu);   // 3 and 0,
            x = delta_swap(x, 2, 0x0C0C0C0Cu);   // 2 and 1,
            sg[k] = delta_swap(x, 1, 0x22222222u);  // 1 and 0: (i1 i0 m1 m0 h)
            const uint32_t w = load32(rows[k] + 106);
            sc[k] = scale_nibble_pairs(_mm_cvtsi32_si128(static_cast<int>(w & 0xFFFFu)), _mm_cvtsi32_si128(static_cast<int>(w >> 16)));
        }
        interleave4(h, dst + 264, 8);
        store_words4x8(sg, dst + 296);
        interleave4(sc, dst + 424, 4);
    }
}

}  // namespace

GroupKernel find_grids(const Layout& layout, Isa level) {
    const bool avx2 = level >= Isa::Avx2;
    switch (layout.kind) {
        case Kind::IQ2XXS: return level == Isa::Avx512 ? iq2xxs_avx512 : avx2 ? iq2xxs_avx2 : nullptr;
        case Kind::IQ3XXS: return level == Isa::Avx512 ? iq3xxs_avx512 : avx2 ? iq3xxs_avx2 : nullptr;
        case Kind::IQ2XS: return avx2 ? iq2xs_avx2 : nullptr;
        case Kind::IQ2S: return avx2 ? iq2s_avx2 : nullptr;
        case Kind::IQ3S: return avx2 ? iq3s_avx2 : nullptr;
        default: break;
    }
    return nullptr;
}

#endif  // __x86_64__

}  // namespace wfs::repack::simd

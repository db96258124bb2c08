// r4/: every sub-range of a repacked tensor is exact (partial row groups at chunk edges), and
// inputs ik would corrupt are refused with a listed reason.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <iterator>
#include <random>

#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"
#include "test_util.hpp"
#include "transforms/repack.hpp"
#include "weightfs/view.hpp"

using namespace wfs;

TEST(Repack, AnySubRangeMatchesIksOutput) {
    // For each source/expected pair, each repacked tensor's bytes at random ranges equal ik's file.
    const std::string dir = test::data_dir() + "/gguf/repack/";
    for (const char* type : {"Q4_0", "Q8_0", "IQ4_XS", "Q4_K_S", "Q6_K", "IQ3_S", "Q5_0", "bf16", "IQ2_K", "IQ3_K", "IQ4_K",
                             "IQ5_K", "IQ4_KS", "IQ5_KS", "IQ2_BN", "f16"}) {
        const std::string src = dir + "tiny-llama-" + type + ".gguf", exp = dir + "tiny-llama-" + type + "-r4.gguf";
        auto file = SourceFile::open(src, src).value();
        auto in = gguf::read_header(FileByteReader(*file)).value();
        auto want_bytes = test::read_file(exp);
        MemoryByteReader wr(want_bytes.data(), want_bytes.size(), exp);
        auto want = gguf::read_header(wr).value();
        std::mt19937_64 rng(3);
        size_t checked = 0;
        for (size_t i = 0; i < in.tensors.size(); ++i) {
            const auto& t = in.tensors[i];
            const repack::Entry* e = repack::find(t.type, true);
            if (!e || want.tensors[i].type != e->dst_type) continue;
            const uint64_t rows = static_cast<uint64_t>(t.ne[1]) * t.ne[2] * t.ne[3];
            repack::RepackPiece piece(*e, file, in.data_offset + t.offset, t.nbytes / rows);
            const uint8_t* ref = want_bytes.data() + want.data_offset + want.tensors[i].offset;
            std::vector<uint8_t> all(t.nbytes);
            ASSERT_TRUE(piece.produce(0, all.size(), all.data()).ok());
            ASSERT_TRUE(std::equal(all.begin(), all.end(), ref)) << type << " " << t.name;
            for (int k = 0; k < 50; ++k) {
                uint64_t off = rng() % t.nbytes;
                size_t len = 1 + rng() % (t.nbytes - off);
                std::vector<uint8_t> part(len);
                ASSERT_TRUE(piece.produce(off, len, part.data()).ok());
                ASSERT_TRUE(std::equal(part.begin(), part.end(), ref + off)) << type << " " << t.name << " at " << off << "+" << len;
            }
            ++checked;
        }
        EXPECT_GT(checked, 0u) << type;
    }
}

TEST(Repack, FileTypeMapAndTable) {
    EXPECT_EQ(repack::repacked_ftype(15), 214u);  // Q4_K_M
    EXPECT_EQ(repack::repacked_ftype(38), 38u);   // MXFP4: not in the map
    EXPECT_EQ(repack::repacked_ftype(1), 1u);     // F16 unchanged
    EXPECT_EQ(repack::find(30, false), nullptr);  // BF16 only when enabled
    ASSERT_NE(repack::find(30, true), nullptr);
    EXPECT_EQ(repack::find(30, true)->rows, 16u);
    EXPECT_EQ(repack::find(0, true), nullptr);    // F32 is never repacked
}

TEST(R4View, RefusesAlignmentOtherThan32) {
    test::TempDir src;
    test::write_file(src / "a64.gguf", test::make_gguf({gguf::make_u32("general.file_type", 7)}, 64));
    auto cat = Catalog::scan(src.path());
    ASSERT_TRUE(cat.ok());
    ASSERT_EQ(cat->ggufs.size(), 1u);  // a valid GGUF...
    ViewReport report;
    ViewOptions opt;
    auto tree = build_tree(*cat, opt, report);
    bool listed = false;
    for (auto& p : report.problems)
        if (p.where == "r4" && p.file == "a64.gguf" && p.reason.find("general.alignment is 64") != std::string::npos) listed = true;
    EXPECT_TRUE(listed);  // ...that r4/ refuses, as ik would write it corrupt
    EXPECT_EQ(tree.lookup(tree.lookup(VirtualTree::kRoot, "r4")->ino, "a64.gguf"), nullptr);
}

TEST(Repack, VectorizedKernelsMatchTheScalarOnes) {
    std::mt19937 rng(7);
    // Every type r4/ repacks has a vector kernel.
    for (const repack::Entry* e : repack::entries()) {
        const int32_t type = e->src_type;
        ASSERT_NE(e->simd.kind, repack::simd::Kind::None);
#if defined(__x86_64__)
        // Every vector kind has an AVX2 or an SSE2 form (or both), and kernel_isa names the level
        // of the one Kernel::Best runs: the lowest level whose best form it is.
        using repack::simd::Isa;
        const auto best = repack::simd::find(e->simd), avx2 = repack::simd::find(e->simd, Isa::Avx2),
                   sse2 = repack::simd::find(e->simd, Isa::Sse2);
        ASSERT_TRUE(best || sse2);
        if (!__builtin_cpu_supports("avx2")) {
            EXPECT_EQ(best, sse2);
        }
        EXPECT_STREQ(repack::kernel_isa(*e), !best ? "scalar" : best == sse2 ? "sse2" : best == avx2 ? "avx2" : "avx512");
        // Every type has an AVX2 form; IQ2_XXS and IQ3_XXS an AVX-512 one.
        if (__builtin_cpu_supports("avx2")) {
            EXPECT_NE(avx2, sse2) << "type " << type;
        }
        const bool has_avx512 = e->simd.kind == repack::simd::Kind::IQ2XXS || e->simd.kind == repack::simd::Kind::IQ3XXS;
        const bool cpu_avx512 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                                __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("gfni");
        if (cpu_avx512) {
            EXPECT_EQ(std::string(repack::kernel_isa(*e)) == "avx512", has_avx512) << "type " << type;
        }
#endif
        // Kernels taking 2 or 8 blocks a step: counts with and without a tail.
        for (size_t nb : {1u, 2u, 3u, 16u, 17u}) {
            const size_t row_bytes = e->row_meta + nb * e->block_bytes, groups = 5;
            std::vector<uint8_t> in(row_bytes * e->rows * groups), fast(in.size()), scalar(in.size(), 0xAA);
            for (auto& b : in) b = static_cast<uint8_t>(rng());
            repack::repack_groups(*e, in.data(), scalar.data(), row_bytes, groups, repack::Kernel::Scalar);
            for (auto kernel : {repack::Kernel::Best, repack::Kernel::Avx2, repack::Kernel::Sse2}) {
                std::fill(fast.begin(), fast.end(), 0x55);
                repack::repack_groups(*e, in.data(), fast.data(), row_bytes, groups, kernel);
                EXPECT_EQ(fast, scalar) << "type " << type << ", " << nb << " blocks per row, "
                                        << (kernel == repack::Kernel::Best ? "best" : kernel == repack::Kernel::Avx2 ? "avx2" : "sse2") << " kernel";
            }
        }
    }
}

TEST(Repack, F16ToBf16R16KeepsEveryClassOfValue) {
    // F16 → BF16_R16 widens exactly and truncates: signed zeros, subnormals (smallest, largest),
    // normals at both ends, ±Inf, quiet and signalling NaNs with payloads — the vector kernel must
    // give what the scalar one (the spec, reference §5.17) gives, bit for bit.
    const uint16_t specials[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0200, 0x0400, 0x8400, 0x3C00,
                                 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7D55,
                                 0x7FFF, 0xFFFF, 0x3555, 0x0155};
    const repack::Entry* e = repack::find(wfs::ggml::type::F16, true);
    ASSERT_NE(e, nullptr);
    constexpr size_t pairs = 9, row_bytes = 4 * pairs;  // one 8-pair step and a tail
    std::vector<uint8_t> in(16 * row_bytes), best(in.size()), scalar(in.size());
    for (size_t i = 0; i < in.size() / 2; ++i) {
        const uint16_t h = specials[i % std::size(specials)];
        std::memcpy(in.data() + 2 * i, &h, 2);
    }
    repack::repack_groups(*e, in.data(), scalar.data(), row_bytes, 1, repack::Kernel::Scalar);
    repack::repack_groups(*e, in.data(), best.data(), row_bytes, 1, repack::Kernel::Best);
    EXPECT_EQ(best, scalar);
    // And the scalar values themselves, for a few: 1.0 → 0x3F80, the smallest subnormal 2^-24 →
    // 0x3380, -Inf → 0xFF80, quiet NaN 0x7E00 → 0x7FC0; a NaN whose payload is all in the low bits
    // truncates to 0x7F80 (Inf's bits: what truncation gives, reference §5.17).
    auto out_of = [&](size_t row, size_t elem) {  // element `elem` of row `row` in the R16 layout
        uint16_t v;
        std::memcpy(&v, scalar.data() + 64 * (elem / 2) + 4 * row + 2 * (elem % 2), 2);
        return v;
    };
    auto in_of = [&](size_t row, size_t elem) {
        uint16_t v;
        std::memcpy(&v, in.data() + row * row_bytes + 2 * elem, 2);
        return v;
    };
    const std::pair<uint16_t, uint16_t> known[] = {{0x3C00, 0x3F80}, {0x0001, 0x3380}, {0xFC00, 0xFF80}, {0x7E00, 0x7FC0}, {0x7C01, 0x7F80}};
    for (size_t row = 0; row < 16; ++row)
        for (size_t elem = 0; elem < 2 * pairs; ++elem) {
            const uint16_t h = in_of(row, elem), v = out_of(row, elem);
            for (auto [from, to] : known) {
                if (h == from) {
                    EXPECT_EQ(v, to) << std::hex << "f16 0x" << from;
                }
            }
        }
}

TEST(Repack, F16ToBf16R16VectorMatchesScalarForEveryHalf) {
    // All 65,536 halves, 16 rows of 4,096: the vector kernel's hardware widening (F16C) and its
    // rebuilt Inf/NaN against the scalar definition.
    const repack::Entry* e = repack::find(wfs::ggml::type::F16, true);
    ASSERT_NE(e, nullptr);
    constexpr size_t row_bytes = 2 * 4096;
    std::vector<uint8_t> in(16 * row_bytes), best(in.size()), scalar(in.size());
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t v = static_cast<uint16_t>(h);
        std::memcpy(in.data() + 2 * h, &v, 2);
    }
    repack::repack_groups(*e, in.data(), scalar.data(), row_bytes, 1, repack::Kernel::Scalar);
    repack::repack_groups(*e, in.data(), best.data(), row_bytes, 1, repack::Kernel::Best);
    size_t differ = 0;
    for (size_t i = 0; i < best.size(); ++i) differ += best[i] != scalar[i];
    EXPECT_EQ(differ, 0u);
}

TEST(R4View, RefusesWhatIkWouldRepackInALayoutNotImplemented) {
    // A Q8_KV tensor ik's --repack makes Q8_KV_R8 (its rows change size; not implemented):
    // refused and listed, not served with the tensor left as it was. Not eligible (3 rows) or
    // left out by repack=, the file is served as ik would write it.
    auto write = [](const std::filesystem::path& path, int64_t kv_rows) {
        std::vector<gguf::TensorInfo> t(2);
        t[0] = {"blk.0.ffn_down.weight", 2, {32, kv_rows, 1, 1}, 151 /* Q8_KV */, 0, static_cast<uint64_t>((32 + 8) * kv_rows)};
        t[1] = {"blk.0.attn_q.weight", 2, {32, 8, 1, 1}, ggml::type::Q8_0, gguf::pad(t[0].nbytes, 32), 8 * 34};
        std::vector<gguf::KeyValue> kv{gguf::make_u32("general.file_type", 7)};
        auto out = gguf::write_metadata(3, kv, t, 32, false);
        for (auto& ti : t) out.resize(out.size() + gguf::pad(ti.nbytes, 32), 0x5a);
        test::write_file(path, out);
    };
    test::TempDir src;
    write(src / "q8kv.gguf", 8);
    write(src / "q8kv-3rows.gguf", 3);
    auto cat = Catalog::scan(src.path());
    ASSERT_TRUE(cat.ok());
    ASSERT_EQ(cat->ggufs.size(), 2u);
    auto served = [&](const ViewOptions& opt, const std::string& name, std::string* reason) {
        ViewReport report;
        auto tree = build_tree(*cat, opt, report);
        for (auto& p : report.problems)
            if (p.where == "r4" && p.file == name) *reason = p.reason;
        return tree.lookup(tree.lookup(VirtualTree::kRoot, "r4")->ino, name) != nullptr;
    };
    std::string reason;
    EXPECT_FALSE(served(ViewOptions{}, "q8kv.gguf", &reason));
    EXPECT_NE(reason.find("tensor blk.0.ffn_down.weight (Q8_KV) would be repacked"), std::string::npos) << reason;
    reason.clear();
    EXPECT_TRUE(served(ViewOptions{}, "q8kv-3rows.gguf", &reason)) << reason;  // 3 rows: ik leaves it too
    ViewOptions attn_only;
    attn_only.repack_pattern = "attn";
    reason.clear();
    EXPECT_TRUE(served(attn_only, "q8kv.gguf", &reason)) << reason;
    EXPECT_EQ(repack::unimplemented_rows(15 /* Q8_K */), 8u);  // ik repacks it too (Q8_K_R8)
    EXPECT_EQ(repack::unimplemented_rows(ggml::type::Q4_K), 0u);
}

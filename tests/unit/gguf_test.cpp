// GGUF reader/writer: real files parse; every hostile variant is refused with a message that
// names the offset; a rewrite of a parsed header reproduces the original bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"
#include "test_util.hpp"

using namespace wfs;

namespace {

Result<gguf::Header> parse(const std::vector<uint8_t>& b) {
    MemoryByteReader in(b.data(), b.size(), "mem.gguf");
    return gguf::read_header(in);
}

template <class T>
void poke(std::vector<uint8_t>& b, size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof v); }

// Offset of the first tensor info: after magic, version, counts and every KV.
size_t first_info_offset(const std::vector<uint8_t>& b) {
    auto h = parse(b);
    size_t off = 24;
    for (auto& kv : h->kv) off += 8 + kv.key.size() + 4 + kv.value.size();
    return off;
}

}  // namespace

TEST(Gguf, ParsesRealShards) {
    auto b = test::read_file(test::data_dir() + "/gguf/split/tiny-qwen3moe-Q4_K_M-00001-of-00004.gguf");
    auto h = parse(b);
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_EQ(h->version, 3u);
    EXPECT_EQ(h->alignment, 32u);
    EXPECT_EQ(h->get_uint("split.count"), 4u);
    EXPECT_EQ(h->get_uint("split.no"), 0u);
    EXPECT_EQ(h->get_string("general.architecture"), "qwen3moe");
    ASSERT_FALSE(h->tensors.empty());
    EXPECT_EQ(h->data_offset % 32, 0u);
    EXPECT_LE(h->data_offset + h->tensors.back().offset + h->tensors.back().nbytes, b.size());
}

TEST(Gguf, RewriteReproducesTheHeaderBytes) {
    // The mainline writer's bytes for an unchanged header are the header itself.
    for (const char* f : {"tiny-llama-Q4_K_S-00001-of-00005.gguf", "tiny-llama-Q4_K_S-00003-of-00005.gguf",
                          "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf"}) {
        auto b = test::read_file(test::data_dir() + "/gguf/split/" + f);
        auto h = parse(b);
        ASSERT_TRUE(h.ok()) << f << ": " << h.error().message;
        auto meta = gguf::write_metadata(h->version, h->kv, h->tensors, h->alignment, true);
        ASSERT_EQ(meta.size(), h->data_offset) << f;
        EXPECT_TRUE(std::equal(meta.begin(), meta.end(), b.begin())) << f;
    }
}

TEST(Gguf, SyntheticFileRoundTrips) {
    auto b = test::make_gguf();
    auto h = parse(b);
    ASSERT_TRUE(h.ok()) << h.error().message;
    ASSERT_EQ(h->tensors.size(), 2u);
    EXPECT_EQ(h->tensors[1].nbytes, 136u);
    EXPECT_EQ(h->data_end, b.size());
    EXPECT_EQ(h->get_uint("llama.block_count"), 2u);
}

TEST(Gguf, EveryTruncationIsRefused) {
    auto b = test::make_gguf();
    auto h = parse(b);
    ASSERT_TRUE(h.ok());
    const uint64_t last_end = h->data_offset + h->tensors.back().offset + h->tensors.back().nbytes;
    for (size_t n = 0; n < last_end; ++n) {
        std::vector<uint8_t> cut(b.begin(), b.begin() + static_cast<long>(n));
        auto r = parse(cut);
        ASSERT_FALSE(r.ok()) << "a file cut at " << n << " bytes was accepted";
        EXPECT_NE(r.error().message.find("mem.gguf: offset "), std::string::npos) << r.error().message;
    }
}

TEST(Gguf, HostileHeadersAreRefusedWithTheField) {
    auto base = test::make_gguf();
    struct Case {
        const char* what;
        std::function<void(std::vector<uint8_t>&)> mutate;
        const char* expect;
    };
    const size_t info = first_info_offset(base);
    // Tensor 0: name "token_embd.weight" (17 bytes) → n_dims at info+8+17, ne at +4, type after 2 dims.
    const size_t t0_ndims = info + 8 + 17, t0_ne0 = t0_ndims + 4, t0_type = t0_ne0 + 16, t0_off = t0_type + 4;
    std::vector<Case> cases = {
        {"magic", [](auto& b) { b[0] = 'X'; }, "bad magic"},
        {"version 1", [](auto& b) { poke<uint32_t>(b, 4, 1); }, "unsupported GGUF version"},
        {"version 4", [](auto& b) { poke<uint32_t>(b, 4, 4); }, "unsupported GGUF version"},
        {"big-endian", [](auto& b) { poke<uint32_t>(b, 4, 3u << 24); }, "big-endian"},
        {"tensor count 2^63-1", [](auto& b) { poke<int64_t>(b, 8, INT64_MAX); }, "tensor count"},
        {"tensor count -1", [](auto& b) { poke<int64_t>(b, 8, -1); }, "tensor count"},
        {"kv count 2^62", [](auto& b) { poke<int64_t>(b, 16, int64_t{1} << 62); }, "key/value count"},
        {"key length 2^64-1", [](auto& b) { poke<uint64_t>(b, 24, UINT64_MAX); }, "exceeds"},
        {"empty key", [](auto& b) { poke<uint64_t>(b, 24, 0); }, ""},
        {"unknown value type", [](auto& b) { poke<int32_t>(b, 24 + 8 + 20, 99); }, "unknown value type"},
        {"n_dims 5", [=](auto& b) { poke<uint32_t>(b, t0_ndims, 5); }, "n_dims 5"},
        {"negative dim", [=](auto& b) { poke<int64_t>(b, t0_ne0, -8); }, "negative dimension"},
        {"dims overflow", [=](auto& b) { poke<int64_t>(b, t0_ne0, INT64_MAX / 2); poke<int64_t>(b, t0_ne0 + 8, 4); }, "overflows"},
        {"unknown type", [=](auto& b) { poke<int32_t>(b, t0_type, 77); }, "unknown ggml type id 77"},
        {"removed type 4", [=](auto& b) { poke<int32_t>(b, t0_type, 4); }, "unknown ggml type id 4"},
        {"partial block", [=](auto& b) { poke<int32_t>(b, t0_type, ggml::type::Q8_0); }, "whole number"},
        {"offset gap", [=](auto& b) { poke<uint64_t>(b, t0_off, 32); }, "expected 0"},
        {"out of file", [=](auto& b) { poke<int64_t>(b, t0_ne0 + 8, 3000); }, ""},
    };
    for (auto& c : cases) {
        auto b = base;
        c.mutate(b);
        auto r = parse(b);
        ASSERT_FALSE(r.ok()) << c.what << " was accepted";
        EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << c.what << ": " << r.error().message;
        EXPECT_EQ(r.error().message.rfind("mem.gguf: offset ", 0), 0u) << r.error().message;
    }
}

TEST(Gguf, LongAndDuplicateNamesAreRefused) {
    auto b = test::make_gguf({test::make_string("general.architecture", "dup")});
    auto r = parse(b);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("duplicate key"), std::string::npos);

    // Grow tensor 0's name to 64 bytes.
    auto base = test::make_gguf();
    size_t info = first_info_offset(base);
    std::vector<uint8_t> g(base.begin(), base.begin() + static_cast<long>(info));
    std::string name(64, 'n');
    uint64_t len = name.size();
    g.resize(g.size() + 8);
    std::memcpy(g.data() + info, &len, 8);
    g.insert(g.end(), name.begin(), name.end());
    g.insert(g.end(), base.begin() + static_cast<long>(info + 8 + 17), base.end());
    r = parse(g);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("at most 63"), std::string::npos) << r.error().message;
}

TEST(Gguf, AlignmentMustBeAPowerOfTwo) {
    auto r = parse(test::make_gguf({}, 48));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("power of two"), std::string::npos);
    auto ok = parse(test::make_gguf({}, 64));
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->alignment, 64u);
    EXPECT_EQ(ok->data_offset % 64, 0u);
}

TEST(Gguf, NormalizedDimsDropTrailingOnes) {
    int64_t a[4] = {4096, 1, 1, 1}, b[4] = {4096, 32, 1, 1}, c[4] = {1, 1, 1, 1}, d[4] = {8, 1, 2, 1};
    EXPECT_EQ(gguf::normalized_n_dims(a), 1u);
    EXPECT_EQ(gguf::normalized_n_dims(b), 2u);
    EXPECT_EQ(gguf::normalized_n_dims(c), 1u);
    EXPECT_EQ(gguf::normalized_n_dims(d), 3u);
}

TEST(Gguf, RoundTripCutsStringsAtNulAndNormalizesBools) {
    auto kv = gguf::roundtrip_kv(test::make_string("k", std::string("ab\0cd", 5)));
    auto expect = test::make_string("k", "ab");
    EXPECT_EQ(kv.value, expect.value);
    auto b = gguf::roundtrip_kv(gguf::KeyValue{"b", gguf::BOOL, {7}});
    EXPECT_EQ(b.value, std::vector<uint8_t>{1});
}

TEST(GgmlTypes, SizesFollowTheTable) {
    int64_t ne[4] = {256, 4, 1, 1};
    EXPECT_EQ(ggml::tensor_nbytes(*ggml::find_type(ggml::type::Q4_K), ne), 4u * 144);
    EXPECT_EQ(ggml::tensor_nbytes(*ggml::find_type(144), ne), 4u * (136 + 4));  // IQ4_KS: 4-byte row scale
    EXPECT_EQ(ggml::tensor_nbytes(*ggml::find_type(ggml::type::I2_S), ne), 1024u / 4 + 32);
    int64_t bad[4] = {100, 1, 1, 1};
    EXPECT_FALSE(ggml::tensor_nbytes(*ggml::find_type(ggml::type::Q4_K), bad).has_value());
    EXPECT_EQ(ggml::find_type(4), nullptr);
    EXPECT_EQ(ggml::find_type(5), nullptr);
}

// Split-set merge: the synthesized file equals llama-gguf-split --merge's output byte for byte
// (mainline and ik KV order), for every sub-range; sets gguf-split would corrupt are refused.
#include <gtest/gtest.h>

#include <random>

#include "formats/gguf_merge.hpp"
#include "test_util.hpp"
#include "views/concat.hpp"
#include "weightfs/catalog.hpp"

using namespace wfs;

namespace {

const SplitSet& find_set(const Catalog& c, const std::string& prefix) {
    for (auto& s : c.splits)
        if (s.prefix == prefix) return s;
    throw std::runtime_error("no split set " + prefix);
}

std::vector<uint8_t> produce_all(const VirtualFile& f) {
    std::vector<uint8_t> out(f.size());
    auto st = f.produce(0, out.size(), out.data());
    EXPECT_TRUE(st.ok()) << st.error().message;
    return out;
}

}  // namespace

TEST(Merge, ByteIdenticalToGgufSplitMerge) {
    auto cat = Catalog::scan(test::data_dir() + "/gguf/split");
    ASSERT_TRUE(cat.ok());
    ASSERT_EQ(cat->splits.size(), 2u);
    struct Case { const char* prefix; MergeOrder order; const char* expected; };
    for (auto c : {Case{"tiny-llama-Q4_K_S", MergeOrder::Mainline, "tiny-llama-Q4_K_S.merged.gguf"},
                   Case{"tiny-llama-Q4_K_S", MergeOrder::Ik, "tiny-llama-Q4_K_S.merged.gguf"},
                   Case{"tiny-qwen3moe-Q4_K_M", MergeOrder::Mainline, "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf"},
                   Case{"tiny-qwen3moe-Q4_K_M", MergeOrder::Ik, "tiny-qwen3moe-Q4_K_M.merged-ik.gguf"}}) {
        auto file = merged_split_file(find_set(*cat, c.prefix), c.order, "concat");
        ASSERT_TRUE(file.ok()) << file.error().message;
        auto expected = test::read_file(test::data_dir() + "/gguf/split/" + c.expected);
        ASSERT_EQ((*file)->size(), expected.size()) << c.expected;
        EXPECT_TRUE(produce_all(**file) == expected) << c.expected;

        // Any sub-range alone gives the same bytes (what lazy chunked serving relies on).
        std::mt19937_64 rng(42);
        for (int i = 0; i < 200; ++i) {
            uint64_t off = rng() % expected.size();
            size_t len = static_cast<size_t>(std::min<uint64_t>(1 + rng() % 70000, expected.size() - off));
            std::vector<uint8_t> part(len);
            ASSERT_TRUE((*file)->produce(off, len, part.data()).ok());
            ASSERT_TRUE(std::equal(part.begin(), part.end(), expected.begin() + static_cast<long>(off)))
                << c.expected << " at " << off << "+" << len;
        }
    }
}

TEST(Merge, MainlineAndIkDifferOnlyInKvOrderForIkShards) {
    auto cat = Catalog::scan(test::data_dir() + "/gguf/split");
    ASSERT_TRUE(cat.ok());
    auto a = merged_split_file(find_set(*cat, "tiny-qwen3moe-Q4_K_M"), MergeOrder::Mainline, "concat");
    auto b = merged_split_file(find_set(*cat, "tiny-qwen3moe-Q4_K_M"), MergeOrder::Ik, "concat");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ((*a)->size(), (*b)->size());
    EXPECT_NE(produce_all(**a), produce_all(**b));
}

namespace {

// Writes a 2-shard set built from the synthetic GGUF, with split keys as given.
void write_set(const test::TempDir& dir, const std::vector<std::vector<gguf::KeyValue>>& split_kv, uint32_t align = 32) {
    for (size_t i = 0; i < split_kv.size(); ++i) {
        auto b = test::make_gguf(split_kv[i], align);
        // Tensor names must differ across shards.
        if (i > 0)
            for (size_t p = 0; p + 5 < b.size(); ++p)
                if (std::equal(b.begin() + static_cast<long>(p), b.begin() + static_cast<long>(p) + 5, "blk.0")) b[p + 4] = '1';
        if (i > 0)
            for (size_t p = 0; p + 10 < b.size(); ++p)
                if (std::equal(b.begin() + static_cast<long>(p), b.begin() + static_cast<long>(p) + 10, "token_embd")) b[p] = 'T';
        test::write_file(dir / ("m-0000" + std::to_string(i + 1) + "-of-00002.gguf"), b);
    }
}

std::vector<gguf::KeyValue> split_keys(uint16_t no, uint16_t count, int32_t total) {
    return {gguf::make_u16("split.no", no), gguf::make_u16("split.count", count), gguf::make_i32("split.tensors.count", total)};
}

std::string merge_error(const test::TempDir& dir) {
    auto cat = Catalog::scan(dir.path());
    EXPECT_TRUE(cat.ok());
    if (cat->splits.size() != 1) return "catalog: " + (cat->problems.empty() ? std::string("no set") : cat->problems[0].reason);
    auto f = merged_split_file(cat->splits[0], MergeOrder::Mainline, "concat");
    return f.ok() ? "" : f.error().message;
}

}  // namespace

TEST(Merge, SyntheticSetMerges) {
    test::TempDir dir;
    write_set(dir, {split_keys(0, 2, 4), split_keys(1, 2, 4)});
    EXPECT_EQ(merge_error(dir), "");
}

TEST(Merge, RefusesWhatGgufSplitWouldCorrupt) {
    {
        test::TempDir dir;
        write_set(dir, {split_keys(0, 2, 4), split_keys(1, 2, 4)}, 64);
        EXPECT_NE(merge_error(dir).find("general.alignment is 64"), std::string::npos) << merge_error(dir);
    }
    {
        test::TempDir dir;
        write_set(dir, {split_keys(0, 3, 4), split_keys(1, 3, 4)});
        EXPECT_NE(merge_error(dir).find("split.count is 3"), std::string::npos) << merge_error(dir);
    }
    {
        test::TempDir dir;
        write_set(dir, {split_keys(0, 2, 4), split_keys(0, 2, 4)});
        EXPECT_NE(merge_error(dir).find("split.no is 0, expected 1"), std::string::npos) << merge_error(dir);
    }
    {
        test::TempDir dir;
        write_set(dir, {split_keys(0, 2, 5), split_keys(1, 2, 5)});
        EXPECT_NE(merge_error(dir).find("split.tensors.count is 5"), std::string::npos) << merge_error(dir);
    }
    {
        test::TempDir dir;
        auto keys = split_keys(0, 2, 4);
        keys[1] = gguf::make_u32("split.count", 2);
        write_set(dir, {keys, split_keys(1, 2, 4)});
        EXPECT_NE(merge_error(dir).find("not a u16"), std::string::npos) << merge_error(dir);
    }
}

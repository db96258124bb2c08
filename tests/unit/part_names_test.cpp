#include <gtest/gtest.h>

#include "transforms/part_names.hpp"

using namespace wfs;

TEST(SplitNames, ParsesOnlyTheGgufSplitPattern) {
    auto s = parse_split_name("DeepSeek-V3-Q4_K_M-00002-of-00009.gguf");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->prefix, "DeepSeek-V3-Q4_K_M");
    EXPECT_EQ(s->index, 2u);
    EXPECT_EQ(s->count, 9u);
    EXPECT_EQ(split_name(s->prefix, 2, 9), "DeepSeek-V3-Q4_K_M-00002-of-00009.gguf");
    for (const char* bad : {"m-00000-of-00002.gguf", "m-00003-of-00002.gguf", "m-0001-of-00002.gguf",
                            "m-00001-of-00002.bin", "-00001-of-00002.gguf", "m-0000a-of-00002.gguf"})
        EXPECT_FALSE(parse_split_name(bad)) << bad;
}

TEST(ShardNames, AnyNumberedSetAndItsNeighbourSpelledTheSameWay) {
    auto s = parse_shard_name("model-00002-of-00163.safetensors");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->prefix, "model");
    EXPECT_EQ(s->suffix, ".safetensors");
    EXPECT_EQ(s->index, 2u);
    EXPECT_EQ(s->count, 163u);
    EXPECT_EQ(shard_name(*s, 3), "model-00003-of-00163.safetensors");
    auto x = parse_shard_name("x-9-of-012.bin");
    ASSERT_TRUE(x);
    EXPECT_EQ(shard_name(*x, 8), "x-8-of-012.bin");
    EXPECT_FALSE(shard_name(*x, 10));  // one digit wide: x-10 would be another spelling
    for (const char* bad : {"model-of-00003.safetensors", "model00001-of-00003.bin", "m-00001-of-.bin", "config.json",
                            "m-1234567890-of-2.bin"})
        EXPECT_FALSE(parse_shard_name(bad)) << bad;
}

TEST(PartNames, ThreeSchemes) {
    auto a = parse_part_name("model.gguf.part2of3");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->base, "model.gguf");
    EXPECT_EQ(a->scheme, PartScheme::PartKofN);
    EXPECT_EQ(a->order, 2u);
    EXPECT_EQ(a->count, 3u);
    auto b = parse_part_name("model.bin.012");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->order, 12u);
    auto c = parse_part_name("model.bin.ab");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, PartScheme::Alpha);
    EXPECT_EQ(c->order, 1u);
    EXPECT_FALSE(parse_part_name("model.gguf"));  // 4 letters: never a split(1) suffix
}

TEST(PartNames, PlansCompleteSetsInNumericOrder) {
    std::map<std::string, std::string> problems;
    // part10of12 must follow part9of12 (a plain sort would put it after part1of12).
    std::vector<std::string> names;
    for (int k = 12; k >= 1; --k) names.push_back("m.gguf.part" + std::to_string(k) + "of12");
    names.push_back("w.bin.001");
    names.push_back("w.bin.002");
    names.push_back("x.aa");
    names.push_back("x.ab");
    names.push_back("x.ac");
    names.push_back("readme.md");
    auto plans = plan_part_sets(names, problems);
    EXPECT_TRUE(problems.empty());
    ASSERT_EQ(plans.size(), 3u);
    for (auto& p : plans) {
        if (p.base == "m.gguf") {
            ASSERT_EQ(p.members.size(), 12u);
            EXPECT_EQ(p.members[8], "m.gguf.part9of12");
            EXPECT_EQ(p.members[9], "m.gguf.part10of12");
        } else if (p.base == "w.bin") {
            EXPECT_EQ(p.members, (std::vector<std::string>{"w.bin.001", "w.bin.002"}));
        } else {
            EXPECT_EQ(p.base, "x");
            EXPECT_EQ(p.members.back(), "x.ac");
        }
    }
}

TEST(PartNames, IncompleteSetsAreReported) {
    std::map<std::string, std::string> problems;
    auto plans = plan_part_sets({"m.part1of3", "m.part3of3", "w.001", "w.003", "y.aa", "y.ac", "v.005", "v.006"}, problems);
    EXPECT_TRUE(plans.empty());
    EXPECT_NE(problems["m.part1of3"].find("missing part 2"), std::string::npos) << problems["m.part1of3"];
    EXPECT_NE(problems["w.003"].find("missing part 2"), std::string::npos);
    EXPECT_NE(problems["y.ac"].find("missing part 1"), std::string::npos) << problems["y.ac"];
    EXPECT_NE(problems["v.005"].find("does not start"), std::string::npos);
}

TEST(PartNames, LoneExtensionsAreNotParts) {
    std::map<std::string, std::string> problems;
    EXPECT_TRUE(plan_part_sets({"notes.txt", "archive.001", "data.aa", "config.json", "config.yaml", "model.gguf",
                                "a.bin", "a.txt"}, problems).empty());
    EXPECT_TRUE(problems.empty());
}

// The engine without FUSE: scan, build the views, reserve a cache and serve reads.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>

#include "test_util.hpp"
#include "weightfs/engine.hpp"

using namespace wfs;

namespace {

std::vector<uint8_t> read_all(Engine& e, OpenFile& f, size_t request) {
    std::vector<uint8_t> out;
    for (uint64_t off = 0;; off += request) {
        auto r = e.read(f, off, request);
        EXPECT_TRUE(r.ok());
        if (!r.ok() || r->iov.empty()) break;
        for (auto& v : r->iov) out.insert(out.end(), static_cast<uint8_t*>(v.iov_base), static_cast<uint8_t*>(v.iov_base) + v.iov_len);
    }
    return out;
}

// 300 reads at random offsets of up to `max_len` bytes; each reply must hold `expect`'s bytes
// (iov by iov), and `also` may check more of it.
void expect_random_reads(Engine& e, OpenFile& f, const std::vector<uint8_t>& expect, unsigned seed, size_t max_len,
                         const std::function<void(const ReadReply&, uint64_t)>& also = {}) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 300; ++i) {
        const uint64_t off = rng() % expect.size();
        auto r = e.read(f, off, 1 + rng() % max_len);
        ASSERT_TRUE(r.ok());
        uint64_t at = off;
        for (auto& v : r->iov) {
            ASSERT_TRUE(std::equal(static_cast<uint8_t*>(v.iov_base), static_cast<uint8_t*>(v.iov_base) + v.iov_len,
                                   expect.begin() + static_cast<long>(at)));
            at += v.iov_len;
        }
        if (also) also(*r, off);
    }
}

// An engine over a SOURCE holding one file, a.bin (300,000 bytes), started with a small cache.
std::unique_ptr<Engine> one_file_engine(const test::TempDir& src, Verbatim verbatim = Verbatim::Auto) {
    test::write_file(src / "a.bin", std::vector<uint8_t>(300000, 1));
    EngineConfig cfg;
    cfg.verbatim = verbatim;
    cfg.source = src.path();
    cfg.arena.bytes = 8ull << 20;
    cfg.threads = 1;
    cfg.fuse_threads = 1;
    auto e = Engine::create(cfg);
    if (!e.ok() || !(*e)->start().ok()) return nullptr;
    return std::move(e).value();
}

const Node* a_bin(Engine& e) { return e.tree().lookup(e.tree().lookup(VirtualTree::kRoot, "concat")->ino, "a.bin"); }

}  // namespace

TEST(Engine, ServesTheConcatViewThroughTheCache) {
    EngineConfig cfg;
    cfg.source = test::data_dir() + "/gguf/split";
    cfg.arena.bytes = 512 << 10;   // below the minimum: raised (never a deadlock), then to one 2 MiB page
    cfg.chunk_size = 64 << 10;     // many chunks per file
    cfg.threads = 2;
    cfg.fuse_threads = 2;
    cfg.verbatim = Verbatim::Cached;  // concat/ only copies: through the cache only when asked
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.ok()) << e.error().message;
    ASSERT_TRUE((*e)->start().ok());

    const Node* dir = (*e)->tree().lookup(VirtualTree::kRoot, "concat");
    ASSERT_NE(dir, nullptr);
    const Node* merged = (*e)->tree().lookup(dir->ino, "tiny-qwen3moe-Q4_K_M.gguf");
    ASSERT_NE(merged, nullptr);
    EXPECT_EQ((*e)->tree().lookup(dir->ino, "tiny-qwen3moe-Q4_K_M-00001-of-00004.gguf"), nullptr);
    auto f = (*e)->open(merged->ino);
    auto expect = test::read_file(cfg.source + "/tiny-qwen3moe-Q4_K_M.merged-mainline.gguf");
    for (size_t request : {4096ul, 100000ul, 1ul << 20}) EXPECT_TRUE(read_all(**e, *f, request) == expect) << request;

    // Unaligned reads spanning chunk edges.
    expect_random_reads(**e, *f, expect, 1, 200000);
    auto status = (*e)->status_text();
    EXPECT_NE(status.find("open: /concat/tiny-qwen3moe-Q4_K_M.gguf x1"), std::string::npos) << status;
    EXPECT_NE(status.find("page_kind: "), std::string::npos);
    EXPECT_NE(status.find("numa: interleave (kernel: interleave"), std::string::npos) << status;
    // The arena is at least 2 MiB; reading the second file (2.1 MB in all) must evict.
    const Node* llama = (*e)->tree().lookup(dir->ino, "tiny-llama-Q4_K_S.gguf");
    ASSERT_NE(llama, nullptr);
    auto g = (*e)->open(llama->ino);
    EXPECT_TRUE(read_all(**e, *g, 1 << 20) == test::read_file(cfg.source + "/tiny-llama-Q4_K_S.merged.gguf"));
    (*e)->close(*g);
    EXPECT_GT((*e)->stats().evictions, 0u);
    EXPECT_TRUE(read_all(**e, *f, 1 << 20) == expect);  // refilled after eviction
    (*e)->close(*f);
    EXPECT_NE((*e)->status_text().find("open_files: 0"), std::string::npos);
    EXPECT_NE((*e)->models_text().find("shown\tconcat/tiny-llama-Q4_K_S.gguf\t770048"), std::string::npos);
}

TEST(Engine, CopiedRangesAreSentFromTheSourcesOwnPages) {
    EngineConfig cfg;
    cfg.source = test::data_dir() + "/gguf/split";
    cfg.arena.bytes = 8ull << 20;
    cfg.chunk_size = 64 << 10;
    cfg.threads = 1;
    cfg.fuse_threads = 1;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.ok() && (*e)->start().ok());
    const Node* merged = (*e)->tree().lookup((*e)->tree().lookup(VirtualTree::kRoot, "concat")->ino, "tiny-qwen3moe-Q4_K_M.gguf");
    ASSERT_NE(merged, nullptr);
    auto f = (*e)->open(merged->ino);
    auto expect = test::read_file(cfg.source + "/tiny-qwen3moe-Q4_K_M.merged-mainline.gguf");
    // The merged header (memory), then four shards' data (their mappings), across every edge.
    for (size_t request : {4096ul, 100000ul, 1ul << 20}) EXPECT_TRUE(read_all(**e, *f, request) == expect) << request;
    expect_random_reads(**e, *f, expect, 2, 300000, [&](const ReadReply& r, uint64_t off) {
        EXPECT_FALSE(r.mapped.empty() && off >= 4096);
        EXPECT_FALSE((*e)->after_reply(r, 0));
    });
    EXPECT_EQ((*e)->stats().fills, 0u);  // nothing went through the cache
    EXPECT_GT((*e)->stats().mapped_reads, 300u);
    (*e)->close(*f);
}

TEST(Engine, AMappedSourceThatChangesIsEioAndItsPagesMustBeDropped) {
    test::TempDir src;
    auto e = one_file_engine(src);
    ASSERT_NE(e, nullptr);
    auto f = e->open(a_bin(*e)->ino);
    auto r = e->read(*f, 0, 4096);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->mapped.size(), 1u);
    // A send the kernel could not complete from the mapping (EFAULT) is logged and counted, the
    // source read the ordinary way to say where; nothing to drop.
    EXPECT_FALSE(e->after_reply(*r, -EFAULT));
    EXPECT_EQ(e->stats().read_errors, 1u);
    // The source changes while the kernel copies from it: the reply may hold a mix, so the
    // kernel's pages of the file must go, and from then on every read is EIO.
    std::filesystem::resize_file(src / "a.bin", 1000);
    EXPECT_TRUE(e->after_reply(*r, 0));
    auto again = e->read(*f, 0, 4096);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, EIO);
    e->close(*f);
}

TEST(Engine, ReadErrorsBecomeEio) {
    for (Verbatim verbatim : {Verbatim::Cached, Verbatim::Mapped}) {  // filled into the cache, or sent from the source
        test::TempDir src;
        auto e = one_file_engine(src, verbatim);
        ASSERT_NE(e, nullptr);
        const Node* n = a_bin(*e);
        ASSERT_NE(n, nullptr);
        std::filesystem::resize_file(src / "a.bin", 1000);
        auto f = e->open(n->ino);
        auto r = e->read(*f, 0, 4096);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, EIO);
        EXPECT_EQ(e->stats().read_errors, 1u);
    }
}

TEST(Engine, PreloadWarmsMatchingFiles) {
    EngineConfig cfg;
    cfg.source = test::data_dir() + "/gguf/split";
    cfg.arena.bytes = 64ull << 20;
    cfg.preload = "concat/*Q4_K_S.gguf";
    cfg.threads = 2;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.ok() && (*e)->start().ok());
    (*e)->preload(false);
    for (int i = 0; i < 200 && (*e)->stats().preload_done < (*e)->stats().preload_total; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ((*e)->stats().preload_total, 770048u);
    EXPECT_EQ((*e)->stats().preload_done, 770048u);
    EXPECT_NE((*e)->status_text().find("100%"), std::string::npos);
}

TEST(Engine, PrefetchWindowGrowsForAReaderThatOutrunsItAndResetsOnASeek) {
    test::TempDir src;
    test::write_file(src / "a.bin", std::vector<uint8_t>(8u << 20, 3));
    EngineConfig cfg;
    cfg.source = src.path();
    cfg.arena.bytes = 64ull << 20;
    cfg.chunk_size = 64 << 10;
    cfg.prefetch = 16;
    cfg.threads = 1;
    cfg.fuse_threads = 1;
    cfg.verbatim = Verbatim::Cached;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.ok() && (*e)->start().ok());
    const Node* n = (*e)->tree().lookup((*e)->tree().lookup(VirtualTree::kRoot, "concat")->ino, "a.bin");
    auto f = (*e)->open(n->ino);
    EXPECT_EQ(f->window.load(), 2u);
    // Each read is exactly the next chunk; the first ones find nothing prefetched yet (misses),
    // so the window doubles until it reaches prefetch=.
    unsigned max_seen = 0;
    for (uint64_t off = 0; off < (4u << 20); off += 64 << 10) {
        ASSERT_TRUE((*e)->read(*f, off, 64 << 10).ok());
        max_seen = std::max(max_seen, f->window.load());
    }
    EXPECT_EQ(max_seen, 16u);
    EXPECT_LE(f->window.load(), 16u);
    // A seek: not sequential, back to the initial window.
    ASSERT_TRUE((*e)->read(*f, 7u << 20, 4096).ok());
    EXPECT_EQ(f->window.load(), 2u);
    (*e)->close(*f);
}

TEST(Engine, TheTreeIsNumberedTheSameEveryBuild) {
    // Views build side by side and are joined in registry order: inode numbers must not depend
    // on which finished first.
    auto cat = Catalog::scan(test::data_dir());
    ASSERT_TRUE(cat.ok());
    ViewReport r1, r2;
    ViewOptions opt;
    const VirtualTree a = build_tree(*cat, opt, r1);
    for (int round = 0; round < 5; ++round) {
        ViewReport r;
        const VirtualTree b = build_tree(*cat, opt, r);
        ASSERT_EQ(a.size(), b.size());
        for (uint64_t ino = 1; ino <= a.size(); ++ino) {
            ASSERT_EQ(a.path_of(ino), b.path_of(ino)) << ino;
            ASSERT_EQ(a.get(ino)->kind, b.get(ino)->kind);
        }
        ASSERT_EQ(r.shown.size(), r1.shown.size());
        for (size_t i = 0; i < r.shown.size(); ++i) EXPECT_EQ(r.shown[i].path, r1.shown[i].path);
    }
    // Every view is there, each under its own root, and the control files last.
    for (const char* view : {"concat", "r4", "bf16", "layers", "llama2c", ".weightfs"}) EXPECT_NE(a.lookup(VirtualTree::kRoot, view), nullptr) << view;
    EXPECT_GT(a.size(), 50u);
    EXPECT_EQ(a.path_of(a.size()), "/.weightfs/models");
}

TEST(Engine, NextShardIsTheFollowingFileOfTheSameSet) {
    VirtualTree t;
    auto file = std::make_shared<VirtualFile>("f", std::vector<Extent>{}, 0, std::vector<std::string>{});
    for (const char* p : {"bf16/m/model-00001-of-00003.safetensors", "bf16/m/model-00002-of-00003.safetensors",
                          "bf16/m/model-00003-of-00003.safetensors", "bf16/m/x-9-of-12.bin", "bf16/m/x-10-of-12.bin",
                          "bf16/m/b-1-of-3.bin", "bf16/m/b-00002-of-3.bin", "bf16/m/model-of-00003.safetensors",
                          "bf16/m/config.json", "bf16/other/model-00002-of-00003.safetensors"})
        ASSERT_NE(t.add_file(p, file, "bf16"), 0u) << p;
    auto at = [&](const std::string& path) { return t.find(path); };
    auto next = [&](const std::string& path) { return t.path_of(t.next_file(at(path))); };
    EXPECT_EQ(next("bf16/m/model-00001-of-00003.safetensors"), "/bf16/m/model-00002-of-00003.safetensors");
    EXPECT_EQ(next("bf16/m/model-00002-of-00003.safetensors"), "/bf16/m/model-00003-of-00003.safetensors");
    EXPECT_EQ(t.next_file(at("bf16/m/model-00003-of-00003.safetensors")), 0u);  // the last one
    EXPECT_EQ(t.next_file(at("bf16/m/x-9-of-12.bin")), 0u);   // "x-10-" is wider than "9": not the same spelling
    EXPECT_EQ(t.next_file(at("bf16/m/x-10-of-12.bin")), 0u);  // x-11 is not there
    EXPECT_EQ(t.next_file(at("bf16/m/b-1-of-3.bin")), 0u);    // widths differ
    EXPECT_EQ(t.next_file(at("bf16/m/model-of-00003.safetensors")), 0u);
    EXPECT_EQ(t.next_file(at("bf16/m/config.json")), 0u);
    EXPECT_EQ(t.next_file(at("bf16/m")), 0u);  // a directory
    EXPECT_EQ(t.find("bf16/nothere/x"), 0u);
}

TEST(Engine, NextFileIsWhatTheViewDeclaredAndSurvivesTheGraft) {
    // A layer runner's order (embed, 0, 1, 2, head) is declared by the view, not read from names.
    VirtualTree view;
    auto file = std::make_shared<VirtualFile>("f", std::vector<Extent>{}, 0, std::vector<std::string>{});
    const std::vector<std::string> order{"embed", "0", "1", "2", "head"};
    for (const auto& stem : order) ASSERT_NE(view.add_file("layers/m/" + stem + ".safetensors", file, "layers"), 0u);
    for (size_t i = 0; i + 1 < order.size(); ++i)
        EXPECT_TRUE(view.set_next("layers/m/" + order[i] + ".safetensors", order[i + 1] + ".safetensors"));
    EXPECT_FALSE(view.set_next("layers/m/head.safetensors", "extra.safetensors"));  // no such sibling
    EXPECT_FALSE(view.set_next("layers/m/nothere.safetensors", "0.safetensors"));
    EXPECT_FALSE(view.set_next("layers/m", "0.safetensors"));  // a directory
    VirtualTree t;
    ASSERT_NE(t.add_file("concat/x.bin", file, "concat"), 0u);  // the graft lands on other inode numbers
    t.graft(view);
    std::vector<std::string> walked;
    ASSERT_NE(t.find("layers/m/embed.safetensors"), 0u);
    for (uint64_t ino = t.find("layers/m/embed.safetensors"); ino != 0; ino = t.next_file(ino)) walked.push_back(t.get(ino)->name);
    EXPECT_EQ(walked, (std::vector<std::string>{"embed.safetensors", "0.safetensors", "1.safetensors", "2.safetensors",
                                                "head.safetensors"}));
}

TEST(Engine, LazyAliasesMirrorThePickedFilesAndKeepTheirOrder) {
    // serve=hugetlb's fallback: a second, regular entry for each file that may be a symlink.
    VirtualTree t;
    auto small = std::make_shared<VirtualFile>("f", std::vector<Extent>{}, 0, std::vector<std::string>{});
    auto large = std::make_shared<VirtualFile>("g", std::vector<Extent>{}, 0, std::vector<std::string>{});
    const std::vector<std::string> order{"embed", "0", "1", "head"};
    for (const auto& stem : order) ASSERT_NE(t.add_file("layers/m/" + stem + ".safetensors", small, "layers"), 0u);
    for (size_t i = 0; i + 1 < order.size(); ++i) ASSERT_TRUE(t.set_next("layers/m/" + order[i] + ".safetensors", order[i + 1] + ".safetensors"));
    const uint64_t big = t.add_file("concat/big.bin", large, "concat");
    const uint64_t top = t.add_file("top.bin", small, "");
    const size_t before = t.files().size();
    t.ensure_dir(".weightfs", "");
    t.add_aliases(".weightfs/lazy", [&](const VirtualFile& f) { return &f == small.get(); });

    EXPECT_EQ(t.files().size(), before);  // aliases are not offered to preload or statfs
    EXPECT_EQ(t.find(".weightfs/lazy/concat/big.bin"), 0u);  // not picked
    const uint64_t alias = t.find(".weightfs/lazy/layers/m/0.safetensors");
    ASSERT_NE(alias, 0u);
    EXPECT_TRUE(t.is_alias(alias));
    EXPECT_EQ(t.get(alias)->file, small);
    EXPECT_EQ(t.get(alias)->view, "layers");
    EXPECT_FALSE(t.is_alias(t.find("layers/m/0.safetensors")));
    EXPECT_FALSE(t.is_alias(big));
    EXPECT_EQ(t.alias_target(t.find("layers/m/0.safetensors")), "../../.weightfs/lazy/layers/m/0.safetensors");
    EXPECT_EQ(t.alias_target(top), ".weightfs/lazy/top.bin");
    std::vector<std::string> walked;
    for (uint64_t ino = t.find(".weightfs/lazy/layers/m/embed.safetensors"); ino != 0; ino = t.next_file(ino)) {
        EXPECT_TRUE(t.is_alias(ino));
        walked.push_back(t.get(ino)->name);
    }
    EXPECT_EQ(walked, (std::vector<std::string>{"embed.safetensors", "0.safetensors", "1.safetensors", "head.safetensors"}));
}

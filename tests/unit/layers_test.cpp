// layers/ for GGUF models: a gguf-split set with one layer per shard, checked with the strict
// reader, the split keys, and every tensor's bytes against the source.
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/gguf.hpp"
#include "test_util.hpp"
#include "weightfs/engine.hpp"

using namespace wfs;

namespace {
std::vector<uint8_t> read_all(Engine& e, uint64_t ino) {
    auto f = e.open(ino);
    std::vector<uint8_t> out;
    for (uint64_t off = 0;; off += 1 << 20) {
        auto r = e.read(*f, off, 1 << 20);
        EXPECT_TRUE(r.ok());
        if (!r.ok() || r->iov.empty()) break;
        for (auto& v : r->iov) out.insert(out.end(), static_cast<uint8_t*>(v.iov_base), static_cast<uint8_t*>(v.iov_base) + v.iov_len);
    }
    e.close(*f);
    return out;
}
}  // namespace

TEST(GgufLayers, OneLayerPerShardWithEveryTensorIntact) {
    test::TempDir src;
    std::filesystem::copy_file(test::data_dir() + "/gguf/split/tiny-llama-Q4_K_S.merged.gguf", src / "m.gguf");
    EngineConfig cfg;
    cfg.source = src.path();
    cfg.arena.bytes = 16 << 20;
    cfg.threads = 1;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.ok() && (*e)->start().ok());
    auto source_bytes = test::read_file(src / "m.gguf");
    MemoryByteReader sr(source_bytes.data(), source_bytes.size(), "m.gguf");
    auto source = gguf::read_header(sr);
    ASSERT_TRUE(source.ok());

    const auto& tree = (*e)->tree();
    const Node* dir = tree.lookup(tree.lookup(tree.lookup(VirtualTree::kRoot, "layers")->ino, "m")->ino, "m-00001-of-00002.gguf");
    ASSERT_NE(dir, nullptr);
    size_t seen = 0;
    for (uint32_t k = 1; k <= 2; ++k) {
        char name[64];
        std::snprintf(name, sizeof name, "m-%05u-of-00002.gguf", k);
        const Node* n = tree.lookup(tree.lookup(tree.lookup(VirtualTree::kRoot, "layers")->ino, "m")->ino, name);
        ASSERT_NE(n, nullptr) << name;
        auto bytes = read_all(**e, n->ino);
        MemoryByteReader in(bytes.data(), bytes.size(), name);
        auto h = gguf::read_header(in);
        ASSERT_TRUE(h.ok()) << h.error().message;
        EXPECT_EQ(h->get_uint("split.no"), k - 1);
        EXPECT_EQ(h->get_uint("split.count"), 2u);
        EXPECT_EQ(h->get_uint("split.tensors.count"), source->tensors.size());
        EXPECT_EQ(h->kv.back().key, "split.count");  // mainline gguf-split order
        // Shard 1: the source's KVs without its own split.* keys, then the new split keys; others: split keys only.
        size_t model_kv = std::count_if(source->kv.begin(), source->kv.end(), [](auto& kv) { return kv.key.rfind("split.", 0) != 0; });
        EXPECT_EQ(h->kv.size(), k == 1 ? model_kv + 3 : 3u);
        EXPECT_EQ(h->data_end, bytes.size());
        for (const auto& t : h->tensors) {
            auto it = std::find_if(source->tensors.begin(), source->tensors.end(), [&](auto& s) { return s.name == t.name; });
            ASSERT_NE(it, source->tensors.end());
            EXPECT_EQ(it->type, t.type);
            EXPECT_TRUE(std::equal(it->ne, it->ne + 4, t.ne));
            EXPECT_TRUE(std::equal(bytes.begin() + static_cast<long>(h->data_offset + t.offset),
                                   bytes.begin() + static_cast<long>(h->data_offset + t.offset + t.nbytes),
                                   source_bytes.begin() + static_cast<long>(source->data_offset + it->offset)))
                << t.name;
            if (t.name.rfind("blk.", 0) == 0) {
                EXPECT_EQ(t.name.substr(4, 1), std::to_string(k - 1)) << t.name;
            }
            ++seen;
        }
    }
    EXPECT_EQ(seen, source->tensors.size());
}

// split.no and split.count are 16-bit keys: a GGUF of more layers than that (each tensor its own
// "blk.N.") is refused with the reason, not served with the counts wrapped. The layer numbers are
// collected in one sort (a search per tensor made this quadratic in hostile files).
TEST(GgufLayers, MoreLayersThanASplitSetHoldsIsRefused) {
    test::TempDir src;
    constexpr uint32_t kLayers = 65536;
    std::vector<gguf::TensorInfo> infos(kLayers);
    for (uint32_t i = 0; i < kLayers; ++i) {
        infos[i].name = "blk." + std::to_string(i) + ".w";
        infos[i].n_dims = 1;
        infos[i].type = 0;  // F32
        infos[i].nbytes = 4;
        infos[i].offset = uint64_t(i) * gguf::kDefaultAlignment;
    }
    auto bytes = gguf::write_metadata(3, {gguf::make_u16("x.y", 1)}, infos, gguf::kDefaultAlignment, true);
    bytes.resize(bytes.size() + uint64_t(kLayers) * gguf::kDefaultAlignment);
    test::write_file(src / "many.gguf", bytes);
    EngineConfig cfg;
    cfg.source = src.path();
    cfg.arena.bytes = 16 << 20;
    cfg.threads = 1;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.ok()) << e.error().message;
    const auto& tree = (*e)->tree();
    EXPECT_EQ(tree.lookup(tree.lookup(VirtualTree::kRoot, "layers")->ino, "many"), nullptr);
    EXPECT_NE((*e)->models_text().find("65536 layers: a gguf-split set holds at most 65535 shards"), std::string::npos);
}


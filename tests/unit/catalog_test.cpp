// Catalog: what a scan of SOURCE finds, what it leaves out, and why.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "test_util.hpp"
#include "weightfs/beneath.hpp"
#include "weightfs/catalog.hpp"
#include "weightfs/source_file.hpp"

using namespace wfs;
namespace fs = std::filesystem;

namespace {

const Problem* problem_for(const Catalog& c, const std::string& file) {
    for (auto& p : c.problems)
        if (p.file == file) return &p;
    return nullptr;
}

}  // namespace

TEST(Catalog, ClassifiesEveryKindOfFile) {
    test::TempDir src;
    auto shards = test::data_dir() + "/gguf/split/";
    fs::create_directories(src / "deep/er");
    for (int k = 1; k <= 5; ++k) {
        auto name = "tiny-llama-Q4_K_S-0000" + std::to_string(k) + "-of-00005.gguf";
        fs::copy_file(shards + name, src / ("deep/er/" + name));
    }
    fs::copy_file(shards + "tiny-qwen3moe-Q4_K_M.merged-mainline.gguf", src / "single.gguf");
    test::write_file(src / "raw.bin.part1of2", {1, 2});
    test::write_file(src / "raw.bin.part2of2", {3});
    test::write_file(src / "README.md", {'h', 'i'});
    test::write_file(src / "broken.gguf", {'G', 'G', 'U', 'F', 3, 0, 0, 0});
    test::write_file(src / "half-00001-of-00002.gguf", test::make_gguf());
    test::write_file(src / ".hidden", {0});

    auto c = Catalog::scan(src.path());
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->splits.size(), 1u);
    EXPECT_EQ(c->splits[0].rel_dir, "deep/er");
    EXPECT_EQ(c->splits[0].prefix, "tiny-llama-Q4_K_S");
    EXPECT_EQ(c->splits[0].shards.size(), 5u);
    ASSERT_EQ(c->ggufs.size(), 1u);
    EXPECT_EQ(c->ggufs[0].rel, "single.gguf");
    ASSERT_EQ(c->parts.size(), 1u);
    EXPECT_EQ(c->parts[0].name, "raw.bin");
    ASSERT_EQ(c->plain.size(), 1u);
    EXPECT_EQ(c->plain[0].rel, "README.md");

    const Problem* broken = problem_for(*c, "broken.gguf");
    ASSERT_NE(broken, nullptr);
    EXPECT_NE(broken->reason.find("truncated"), std::string::npos) << broken->reason;
    EXPECT_EQ(broken->offset, 8u);
    const Problem* half = problem_for(*c, "half-00001-of-00002.gguf");
    ASSERT_NE(half, nullptr);
    EXPECT_NE(half->reason.find("half-00002-of-00002.gguf is missing"), std::string::npos) << half->reason;
    EXPECT_EQ(problem_for(*c, ".hidden"), nullptr);
}

TEST(Catalog, FollowsSymlinksOnlyInsideSource) {
    test::TempDir src, outside;
    test::write_file(outside / "secret.bin", {42});
    test::write_file(src / "blobs/abc123", {1, 2, 3});
    fs::create_directories(src / "snapshots/rev");
    fs::create_symlink("../../blobs/abc123", src / "snapshots/rev/model.bin");
    fs::create_symlink(outside / "secret.bin", src / "leak.bin");
    fs::create_symlink(outside.path(), src / "leakdir");
    fs::create_symlink("nowhere", src / "dangling");
    fs::create_symlink(src.path(), src / "snapshots/loop");
    fs::create_symlink(fs::canonical(src.path()) / "blobs/abc123", src / "snapshots/absolute.bin");  // inside, by an absolute path

    auto c = Catalog::scan(src.path());
    ASSERT_TRUE(c.ok());
    std::vector<std::string> rels;
    for (auto& p : c->plain) rels.push_back(p.rel);
    EXPECT_EQ(rels, (std::vector<std::string>{"blobs/abc123", "snapshots/absolute.bin", "snapshots/rev/model.bin"}));
    ASSERT_NE(problem_for(*c, "leak.bin"), nullptr);
    EXPECT_NE(problem_for(*c, "leak.bin")->reason.find("leaves SOURCE"), std::string::npos);
    ASSERT_NE(problem_for(*c, "leakdir"), nullptr);
    ASSERT_NE(problem_for(*c, "dangling"), nullptr);
    ASSERT_NE(problem_for(*c, "snapshots/loop"), nullptr);
    EXPECT_NE(problem_for(*c, "snapshots/loop")->reason.find("already scanned"), std::string::npos);
}

// The scan looks at a path before it opens it; a user who can write in SOURCE could swap a link
// in between. The open itself must then refuse whatever lies outside, as these links (made
// where the scan saw regular files) do, and still follow links that stay inside.
TEST(SourceFile, OpensOnlyWhatLiesBeneathTheRoot) {
    test::TempDir src, outside;
    const std::string root = fs::canonical(src.path());
    test::write_file(outside / "secret.bin", {42});
    test::write_file(src / "blobs/abc123", {1, 2, 3});
    fs::create_directories(src / "dir");
    fs::create_symlink(outside / "secret.bin", src / "absolute-out.bin");
    fs::create_symlink(fs::relative(outside / "secret.bin", src.path()), src / "relative-out.bin");
    fs::create_symlink(outside.path(), src / "dir/swapped");  // a directory on the way
    fs::create_symlink(root + "/blobs/abc123", src / "absolute-in.bin");
    fs::create_symlink("../blobs/abc123", src / "dir/relative-in.bin");

    for (const char* rel : {"absolute-out.bin", "relative-out.bin", "dir/swapped/secret.bin"}) {
        auto f = SourceFile::open_beneath(root, rel);
        ASSERT_FALSE(f.ok()) << rel;
        EXPECT_EQ(f.error().code, EXDEV) << rel;
        EXPECT_NE(f.error().message.find("leads out of SOURCE"), std::string::npos) << f.error().message;
        EXPECT_EQ(f.error().message.find(outside.path()), std::string::npos) << "names what lies outside";
    }
    // A directory the scan would list, swapped for a link out: not opened either.
    auto d = open_beneath(root, "dir/swapped", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, EXDEV);
    auto top = open_beneath(root, "", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(top.ok()) << top.error().message;
    close(*top);
    // A FIFO swapped in for a file: refused at once, not an open that waits for a writer.
    ASSERT_EQ(mkfifo((src / "fifo.bin").c_str(), 0644), 0);
    auto fifo = SourceFile::open_beneath(root, "fifo.bin");
    ASSERT_FALSE(fifo.ok());
    EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos) << fifo.error().message;
    for (const char* rel : {"blobs/abc123", "absolute-in.bin", "dir/relative-in.bin"}) {
        auto f = SourceFile::open_beneath(root, rel);
        ASSERT_TRUE(f.ok()) << rel << ": " << f.error().message;
        uint8_t got[3] = {};
        ASSERT_TRUE((*f)->read_exact(0, 3, got).ok());
        EXPECT_EQ(std::vector<uint8_t>(got, got + 3), (std::vector<uint8_t>{1, 2, 3})) << rel;
        EXPECT_EQ((*f)->rel(), rel);
    }
}

TEST(Catalog, RefusesANonDirectory) {
    test::TempDir src;
    test::write_file(src / "f", {1});
    EXPECT_FALSE(Catalog::scan(src / "f").ok());
    EXPECT_FALSE(Catalog::scan(src / "missing").ok());
}

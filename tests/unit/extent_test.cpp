#include <fcntl.h>
#include <sys/stat.h>
#include <gtest/gtest.h>

#include <random>

#include "test_util.hpp"
#include "weightfs/virtual_file.hpp"

using namespace wfs;

TEST(Extents, CopiesCoalesceAndEverySubRangeIsExact) {
    test::TempDir dir;
    std::vector<uint8_t> a(5000), b(3000);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 31);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 17 + 5);
    test::write_file(dir / "a", a);
    test::write_file(dir / "b", b);
    SourceFilePtr fa = SourceFile::open(dir / "a", "a").value(), fb = SourceFile::open(dir / "b", "b").value();

    ExtentListBuilder builder;
    builder.add_bytes({9, 9, 9});
    builder.add_copy(fa, 0, 1000);
    builder.add_copy(fa, 1000, 4000);  // continues the previous copy: merged
    builder.add_zeros(10);
    builder.add_zeros(6);              // merged
    builder.add_copy(fb, 100, 2900);
    EXPECT_EQ(builder.size(), 3u + 5000 + 16 + 2900);
    auto extents = builder.take();
    EXPECT_EQ(extents.size(), 4u);

    std::vector<uint8_t> expect{9, 9, 9};
    expect.insert(expect.end(), a.begin(), a.end());
    expect.insert(expect.end(), 16, 0);
    expect.insert(expect.end(), b.begin() + 100, b.end());
    VirtualFile vf("test", extents, expect.size(), {"a", "b"});
    std::mt19937 rng(7);
    for (int i = 0; i < 500; ++i) {
        uint64_t off = rng() % expect.size();
        size_t len = 1 + rng() % (expect.size() - off);
        std::vector<uint8_t> got(len);
        ASSERT_TRUE(vf.produce(off, len, got.data()).ok());
        ASSERT_TRUE(std::equal(got.begin(), got.end(), expect.begin() + static_cast<long>(off))) << off << "+" << len;
    }
    std::vector<uint8_t> over(10);
    EXPECT_FALSE(vf.produce(expect.size() - 5, 10, over.data()).ok());
}

TEST(Extents, ATruncatedSourceIsAnErrorNotZeros) {
    test::TempDir dir;
    test::write_file(dir / "f", std::vector<uint8_t>(4096, 7));
    SourceFilePtr f = SourceFile::open(dir / "f", "f").value();
    ExtentListBuilder b;
    b.add_copy(f, 0, 4096);
    VirtualFile vf("test", b.take(), 4096, {"f"});
    ASSERT_EQ(truncate((dir / "f").c_str(), 1000), 0);
    std::vector<uint8_t> buf(4096);
    auto st = vf.produce(0, 4096, buf.data());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, EIO);
    EXPECT_NE(st.error().message.find("f: source changed since the mount scanned it (truncated from 4096 to 1000 bytes: offset 1000 onwards is gone)"),
              std::string::npos) << st.error().message;
    // Stale for good: even the bytes still in the file are not served (they may belong to another version).
    auto again = vf.produce(0, 100, buf.data());
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(f->stale());
}

TEST(Extents, ASourceReplacedOrRewrittenIsStale) {
    test::TempDir dir;
    test::write_file(dir / "a", std::vector<uint8_t>(4096, 1));
    test::write_file(dir / "b", std::vector<uint8_t>(4096, 2));
    SourceFilePtr a = SourceFile::open(dir / "a", "a").value();
    SourceFilePtr b = SourceFile::open(dir / "b", "b").value();
    std::vector<uint8_t> buf(16);
    ASSERT_TRUE(a->read_exact(0, 16, buf.data()).ok());
    test::write_file(dir / "a.new", std::vector<uint8_t>(4096, 3));
    ASSERT_EQ(rename((dir / "a.new").c_str(), (dir / "a").c_str()), 0);
    auto st = a->read_exact(0, 16, buf.data());
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("(replaced by another file)"), std::string::npos) << st.error().message;
    struct timespec later[2] = {{0, UTIME_OMIT}, {1, 0}};  // a write would move mtime; set it directly
    ASSERT_EQ(utimensat(AT_FDCWD, (dir / "b").c_str(), later, 0), 0);
    st = b->read_exact(0, 16, buf.data());
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("(modified (mtime changed))"), std::string::npos) << st.error().message;
}

// A passthrough open may hand the kernel the source itself only when the file is that source
// from first byte to last: any header, padding, offset or second source makes it a new file.
TEST(Extents, WholeSourceOnlyForAnUnchangedWholeFile) {
    test::TempDir dir;
    test::write_file(dir / "a", std::vector<uint8_t>(8192, 1));
    test::write_file(dir / "b", std::vector<uint8_t>(100, 2));
    SourceFilePtr a = SourceFile::open(dir / "a", "a").value(), b = SourceFile::open(dir / "b", "b").value();
    auto file = [](auto add, uint64_t size) {
        ExtentListBuilder x;
        add(x);
        return VirtualFile("test", x.take(), size, {"a"});
    };
    EXPECT_EQ(file([&](auto& x) { x.add_copy(a, 0, 4096), x.add_copy(a, 4096, 4096); }, 8192).whole_source(), a.get());
    EXPECT_EQ(file([&](auto& x) { x.add_copy(a, 0, 4096); }, 4096).whole_source(), nullptr);      // a prefix
    EXPECT_EQ(file([&](auto& x) { x.add_copy(a, 4096, 4096); }, 4096).whole_source(), nullptr);   // an inner range
    EXPECT_EQ(file([&](auto& x) { x.add_bytes({1}), x.add_copy(a, 1, 8191); }, 8192).whole_source(), nullptr);
    EXPECT_EQ(file([&](auto& x) { x.add_copy(a, 0, 8192), x.add_zeros(32); }, 8224).whole_source(), nullptr);
    EXPECT_EQ(file([&](auto& x) { x.add_copy(a, 0, 8192), x.add_copy(b, 0, 100); }, 8292).whole_source(), nullptr);
    EXPECT_EQ(file([&](auto& x) { x.add_copy(b, 0, 100); }, 100).whole_source(), b.get());
}

// Large header bytes are kept compressed and produced on demand; every sub-range must come back
// exact (the decoder works from the block's start), and incompressible bytes stay plain.
TEST(Extents, LargeHeadersArePackedAndEveryRangeIsExact) {
    std::vector<uint8_t> json;
    for (int i = 0; json.size() < 300000; ++i) {
        std::string e = "\"model.layers." + std::to_string(i % 61) + ".mlp.experts." + std::to_string(i) +
                        ".down_proj.weight\":{\"dtype\":\"BF16\",\"shape\":[7168,2048],\"data_offsets\":[" +
                        std::to_string(i * 29360128ull) + "," + std::to_string((i + 1) * 29360128ull) + "]},";
        json.insert(json.end(), e.begin(), e.end());
    }
    MemoryPiece packed(json);
    EXPECT_TRUE(packed.packed());
    EXPECT_EQ(packed.size(), json.size());
    const uint8_t* at = nullptr;
    EXPECT_EQ(packed.mapped(0, 100, &at), 0u) << "packed bytes must be produced, not pointed at";
    std::mt19937 rng(11);
    for (int i = 0; i < 300; ++i) {
        uint64_t off = i == 0 ? 0 : rng() % json.size();
        size_t len = i == 1 ? json.size() - off : 1 + rng() % std::min<size_t>(json.size() - off, 70000);
        std::vector<uint8_t> got(len);
        ASSERT_TRUE(packed.produce(off, len, got.data()).ok());
        ASSERT_TRUE(std::equal(got.begin(), got.end(), json.begin() + static_cast<long>(off))) << off << "+" << len;
    }
    std::vector<uint8_t> over(10);
    EXPECT_FALSE(packed.produce(json.size() - 5, 10, over.data()).ok());

    std::vector<uint8_t> noise(MemoryPiece::kPackFrom * 4);
    for (auto& b : noise) b = static_cast<uint8_t>(rng());
    MemoryPiece plain(noise);
    EXPECT_FALSE(plain.packed());
    EXPECT_EQ(plain.mapped(5, 100, &at), 100u);
    EXPECT_EQ(at[0], noise[5]);
    MemoryPiece small(std::vector<uint8_t>(MemoryPiece::kPackFrom - 1, 'a'));
    EXPECT_FALSE(small.packed());
}

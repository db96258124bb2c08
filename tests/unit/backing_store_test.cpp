// BackingStore: files materialized into the private huge tmpfs byte for byte; a budget that
// holds whatever the file sizes (a file's last, partial page takes a whole page of the tmpfs,
// so a budget counted in bytes let the last page of a file find the tmpfs full: a SIGBUS in the
// daemon's fill); files nobody holds evicted least recently used first when a new one needs the
// room; and a tmpfs still full of an evicted file some consumer maps is a clean ENOSPC. Files
// are on 2 MiB pages wherever a whole one fits, and the store counts how much.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "weightfs/backing_store.hpp"
#include "weightfs/worker_pool.hpp"

using namespace wfs;

namespace {

class IndexPiece final : public Piece {
public:
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override {
        for (size_t i = 0; i < len; ++i) dst[i] = byte_at(offset + i);
        return {};
    }
    static uint8_t byte_at(uint64_t i) { return static_cast<uint8_t>((i * 2654435761u) >> 11); }
};

VirtualFile pattern_file(uint64_t size) {
    return VirtualFile("t", std::vector<Extent>{{0, size, std::make_shared<IndexPiece>(), 0}}, size,
                       std::vector<std::string>{});
}

bool holds_pattern(int fd, uint64_t size) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return false;
    const auto* p = static_cast<const uint8_t*>(map);
    bool same = true;
    for (uint64_t i = 0; i < size && same; ++i) same = p[i] == IndexPiece::byte_at(i);
    munmap(map, size);
    return same;
}

}  // namespace

TEST(BackingStore, FilesExactAndTheBudgetCountsWholePages) {
    constexpr uint64_t kMiB = 1 << 20;
    auto store = BackingStore::create(6 * kMiB);
    if (!store) GTEST_SKIP() << "no private tmpfs here: " << store.error().message;  // needs CAP_SYS_ADMIN
    WorkerPool pool(2);
    // Byte sizes that sum to the budget exactly: the first takes a huge page and a small one.
    VirtualFile a = pattern_file(2 * kMiB + 1), b = pattern_file(4 * kMiB - 1);
    auto fa = (*store)->file(a, pool, 3);
    ASSERT_TRUE(fa.ok()) << fa.error().message;
    EXPECT_TRUE(holds_pattern(*fa, a.size()));
    // Its whole 2 MiB part is on a 2 MiB page (allocated through a MADV_HUGEPAGE mapping, which
    // compacts memory for it), and the count says so.
    EXPECT_EQ((*store)->huge(), 2 * kMiB);
    auto fb = (*store)->file(b, pool, 3);  // before: SIGBUS at b's last page; a is held
    ASSERT_FALSE(fb.ok()) << "accepted a file the tmpfs cannot hold";
    EXPECT_EQ(fb.error().code, ENOSPC);
    EXPECT_EQ((*store)->files(), 1u);
    // What fits in the pages left is accepted and exact; the same file again is the same fd.
    VirtualFile c = pattern_file(2 * kMiB - 4096);
    auto fc = (*store)->file(c, pool, 3);
    ASSERT_TRUE(fc.ok()) << fc.error().message;
    EXPECT_TRUE(holds_pattern(*fc, c.size()));
    auto again = (*store)->file(c, pool, 3);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *fc);
    EXPECT_LE((*store)->used(), (*store)->budget());
    EXPECT_EQ((*store)->evictions(), 0u);
}

TEST(BackingStore, IdleFilesAreEvictedLeastRecentlyUsedFirst) {
    constexpr uint64_t kMiB = 1 << 20;
    auto store = BackingStore::create(8 * kMiB);
    if (!store) GTEST_SKIP() << "no private tmpfs here: " << store.error().message;
    WorkerPool pool(2);
    VirtualFile a = pattern_file(2 * kMiB), b = pattern_file(4 * kMiB), c = pattern_file(2 * kMiB),
                d = pattern_file(4 * kMiB);
    for (VirtualFile* f : {&a, &b, &c}) ASSERT_TRUE((*store)->file(*f, pool, 3).ok());
    (*store)->release(b.id());  // b, then a, become idle; c stays held
    (*store)->release(a.id());
    // Preload's way (Eviction::Never): no room, nothing evicted.
    auto refused = (*store)->file(d, pool, 3, {}, Eviction::Never);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ENOSPC);
    EXPECT_EQ((*store)->evictions(), 0u);
    // d needs 4 MiB of the 8: b (least recently released) goes, a stays.
    auto fd = (*store)->file(d, pool, 3);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_TRUE(holds_pattern(*fd, d.size()));
    EXPECT_EQ((*store)->evictions(), 1u);
    EXPECT_EQ((*store)->files(), 3u);
    EXPECT_EQ((*store)->huge(), 8 * kMiB);  // a, c, d: the evicted b no longer counts
    // b again: nothing idle but a (2 MiB) — not enough, so nothing is evicted and b is refused.
    auto fb = (*store)->file(b, pool, 3);
    ASSERT_FALSE(fb.ok());
    EXPECT_EQ(fb.error().code, ENOSPC);
    EXPECT_EQ((*store)->evictions(), 1u);
    EXPECT_EQ((*store)->files(), 3u);
    // Once d is let go, b is made again, exact.
    (*store)->release(d.id());
    fb = (*store)->file(b, pool, 3);
    ASSERT_TRUE(fb.ok()) << fb.error().message;
    EXPECT_TRUE(holds_pattern(*fb, b.size()));
    EXPECT_EQ((*store)->evictions(), 3u);  // d and a (both idle, a first) made the 4 MiB
}

TEST(BackingStore, AnEvictedFileStillMappedElsewhereMeansEnospcNotSigbus) {
    constexpr uint64_t kMiB = 1 << 20;
    auto store = BackingStore::create(6 * kMiB);
    if (!store) GTEST_SKIP() << "no private tmpfs here: " << store.error().message;
    WorkerPool pool(2);
    VirtualFile a = pattern_file(4 * kMiB), b = pattern_file(4 * kMiB);
    auto fa = (*store)->file(a, pool, 3);
    ASSERT_TRUE(fa.ok());
    // A consumer's mapping (through passthrough, the kernel's) keeps a's pages after eviction.
    void* kept = mmap(nullptr, a.size(), PROT_READ, MAP_SHARED, *fa, 0);
    ASSERT_NE(kept, MAP_FAILED);
    (*store)->release(a.id());
    auto fb = (*store)->file(b, pool, 3);  // evicts a by the budget, but the tmpfs is still full
    ASSERT_FALSE(fb.ok()) << "filled a file into a tmpfs that had no room for it";
    EXPECT_EQ(fb.error().code, ENOSPC) << fb.error().message;
    EXPECT_EQ(static_cast<const uint8_t*>(kept)[12345], IndexPiece::byte_at(12345));  // the consumer still reads a
    munmap(kept, a.size());  // a's pages go now
    fb = (*store)->file(b, pool, 3);
    ASSERT_TRUE(fb.ok()) << fb.error().message;
    EXPECT_TRUE(holds_pattern(*fb, b.size()));
}

TEST(BackingStore, ConcurrentHoldersNeverLoseTheirFile) {
    // Four threads open and release five files through a budget of three: a held file's fd
    // stays valid and exact while others are evicted around it, and the budget holds.
    constexpr uint64_t kMiB = 1 << 20;
    auto store = BackingStore::create(6 * kMiB);
    if (!store) GTEST_SKIP() << "no private tmpfs here: " << store.error().message;
    WorkerPool pool(2);
    std::vector<VirtualFile> files;
    for (int i = 0; i < 5; ++i) files.push_back(pattern_file(2 * kMiB - 4096 * i));
    std::atomic<int> served{0}, refused{0}, wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i) {
                const VirtualFile& f = files[(t * 7 + i * 3) % files.size()];
                auto fd = (*store)->file(f, pool, 2);
                if (!fd) {
                    refused += fd.error().code == ENOSPC ? 1 : 1000;  // nothing but ENOSPC is expected
                    continue;
                }
                uint8_t b[2];
                const uint64_t at[2] = {0, f.size() - 1};
                for (int k = 0; k < 2; ++k)
                    if (pread(*fd, &b[k], 1, static_cast<off_t>(at[k])) != 1 || b[k] != IndexPiece::byte_at(at[k])) wrong++;
                served++;
                (*store)->release(f.id());
                EXPECT_LE((*store)->used(), (*store)->budget());
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_LT(refused.load(), 1000);
    EXPECT_GT(served.load(), 100);
    EXPECT_GT((*store)->evictions(), 0u);
    EXPECT_LE((*store)->files(), 3u);
}

namespace {
// The global switch for tmpfs huge pages, set for one test and put back however it ends.
class ShmemHugeSetting {
public:
    static constexpr const char* kPath = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
    ShmemHugeSetting() {
        if (FILE* f = std::fopen(kPath, "re")) {
            char buf[128] = {};
            buf[std::fread(buf, 1, sizeof buf - 1, f)] = 0;
            std::fclose(f);
            const char *open = std::strchr(buf, '['), *close = open ? std::strchr(open, ']') : nullptr;
            if (close) was_.assign(open + 1, close);
        }
    }
    ~ShmemHugeSetting() {
        if (changed_) set(was_);
    }
    bool readable() const { return !was_.empty(); }
    const std::string& was() const { return was_; }
    bool set(const std::string& value) {
        FILE* f = std::fopen(kPath, "we");
        if (!f) return false;
        const bool ok = std::fputs(value.c_str(), f) >= 0;
        changed_ = (std::fclose(f) == 0 && ok) || changed_;
        return changed_;
    }

private:
    std::string was_;
    bool changed_ = false;
};
}  // namespace

TEST(BackingStore, TheHugePageCountIsWhatTheKernelGaveAndABlockingSettingIsNamed) {
    // With tmpfs huge pages denied system-wide, a file is on 4 KiB pages: the count says 0 (it is
    // read from the mapping, not assumed) and the reason names the setting; put back, 2 MiB.
    // (Root only: the setting is global; it is put back however the test ends.)
    constexpr uint64_t kMiB = 1 << 20;
    ShmemHugeSetting setting;
    if (getuid() != 0 || !setting.readable()) GTEST_SKIP() << "needs root and " << ShmemHugeSetting::kPath;
    ASSERT_NE(setting.was(), "deny") << "tmpfs huge pages are denied on this host already";
    auto store = BackingStore::create(8 * kMiB);
    if (!store) GTEST_SKIP() << "no private tmpfs here: " << store.error().message;
    EXPECT_EQ(BackingStore::huge_page_obstacle(), "");
    WorkerPool pool(2);
    ASSERT_TRUE(setting.set("deny"));
    EXPECT_NE(BackingStore::huge_page_obstacle().find("shmem_enabled is deny"), std::string::npos);
    VirtualFile a = pattern_file(4 * kMiB);
    auto fa = (*store)->file(a, pool, 3);
    ASSERT_TRUE(fa.ok()) << fa.error().message;
    EXPECT_TRUE(holds_pattern(*fa, a.size()));
    EXPECT_EQ((*store)->huge(), 0u);
    ASSERT_TRUE(setting.set(setting.was()));
    VirtualFile b = pattern_file(4 * kMiB);
    auto fb = (*store)->file(b, pool, 3);
    ASSERT_TRUE(fb.ok()) << fb.error().message;
    EXPECT_EQ((*store)->huge(), 4 * kMiB);
    // THP switched off for this process (as a parent's PR_SET_THP_DISABLE would leave it): the
    // same, named; switched back on, 2 MiB pages again.
    (*store)->release(a.id());  // c takes a's room
    ASSERT_EQ(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
    EXPECT_NE(BackingStore::huge_page_obstacle().find("PR_SET_THP_DISABLE"), std::string::npos);
    VirtualFile c = pattern_file(2 * kMiB);
    auto fc = (*store)->file(c, pool, 3);
    ASSERT_EQ(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0), 0);
    ASSERT_TRUE(fc.ok()) << fc.error().message;
    EXPECT_TRUE(holds_pattern(*fc, c.size()));
    EXPECT_EQ((*store)->huge(), 4 * kMiB);  // b's 4; c none (and a, evicted, had none)
    EXPECT_EQ(BackingStore::huge_page_obstacle(), "");
    // Inherited at start (a parent's PR_SET_THP_DISABLE), it is switched back on by the store.
    ASSERT_EQ(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
    auto another = BackingStore::create(2 * kMiB);
    EXPECT_EQ(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 0);
    prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
}

// ChunkCache: one fill per chunk whatever the number of waiting readers, eviction within the
// budget, pinned chunks never reused, failed fills reported and retried, correct bytes under load;
// materialize exact with its progress, also when called from the pool's own workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "weightfs/chunk_cache.hpp"
#include "weightfs/materialize.hpp"
#include "weightfs/worker_pool.hpp"

using namespace wfs;
using namespace std::chrono_literals;

namespace {

// Byte i of the file is a function of i; counts productions; can be slowed down or made to fail.
class PatternPiece final : public Piece {
public:
    mutable std::atomic<int> produced{0};
    mutable std::atomic<int> fail_next{0};
    mutable std::atomic<int> throw_next{0};  // as a transform out of memory does
    std::chrono::milliseconds delay{0};
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const override {
        produced++;
        if (delay.count()) std::this_thread::sleep_for(delay);
        if (throw_next > 0) {
            throw_next--;
            throw std::bad_alloc();
        }
        if (fail_next > 0) {
            fail_next--;
            return make_error(EIO, "injected failure");
        }
        for (size_t i = 0; i < len; ++i) dst[i] = byte_at(offset + i);
        return {};
    }
    static uint8_t byte_at(uint64_t i) { return static_cast<uint8_t>((i * 2654435761u) >> 13); }
};

struct Fixture {
    static constexpr uint64_t kChunk = 64 * 1024;
    std::shared_ptr<PatternPiece> piece = std::make_shared<PatternPiece>();
    std::vector<uint8_t> memory;
    Stats stats;
    std::unique_ptr<ChunkCache> cache;
    std::unique_ptr<VirtualFile> file;

    Fixture(size_t slots, uint64_t file_size) : memory(slots * kChunk) {
        cache = std::make_unique<ChunkCache>(memory.data(), memory.size(), kChunk, stats);
        file = std::make_unique<VirtualFile>("t", std::vector<Extent>{{0, file_size, piece, 0}}, file_size,
                                             std::vector<std::string>{});
    }
    // `readers` threads get chunk `index` at once; how many got an error (with errno `code`, if given).
    int failed_readers(uint64_t index, int readers, int code = 0) {
        std::atomic<int> failed{0};
        std::vector<std::thread> ts;
        for (int i = 0; i < readers; ++i)
            ts.emplace_back([&] {
                auto p = cache->get(*file, index);
                if (!p.ok() && (code == 0 || p.error().code == code)) failed++;
            });
        for (auto& t : ts) t.join();
        return failed;
    }
    bool check(const ChunkCache::Pin& p, uint64_t index) const {
        for (size_t i = 0; i < p.size(); ++i)
            if (p.data()[i] != PatternPiece::byte_at(index * kChunk + i)) return false;
        return true;
    }
};

}  // namespace

TEST(ChunkCache, OneFillForManyWaitingReaders) {
    Fixture f(8, 10 * Fixture::kChunk);
    f.piece->delay = 50ms;
    std::vector<std::thread> readers;
    std::atomic<int> good{0};
    for (int t = 0; t < 8; ++t)
        readers.emplace_back([&] {
            auto p = f.cache->get(*f.file, 3);
            if (p.ok() && f.check(*p, 3)) good++;
        });
    for (auto& t : readers) t.join();
    EXPECT_EQ(good, 8);
    EXPECT_EQ(f.piece->produced, 1);
    EXPECT_EQ(f.stats.misses, 1u);
    EXPECT_EQ(f.stats.waits + f.stats.hits, 7u);
}

TEST(ChunkCache, EvictsWithinTheBudget) {
    Fixture f(4, 10 * Fixture::kChunk + 123);
    for (uint64_t c = 0; c <= 10; ++c) {
        auto p = f.cache->get(*f.file, c);
        ASSERT_TRUE(p.ok());
        EXPECT_TRUE(f.check(*p, c));
        if (c == 10) {
            EXPECT_EQ(p->size(), 123u);  // the last chunk is partial
        }
    }
    EXPECT_EQ(f.piece->produced, 11);
    EXPECT_GE(f.stats.evictions, 7u);
    EXPECT_LE(f.cache->used_bytes(), 4 * Fixture::kChunk);
    ASSERT_TRUE(f.cache->get(*f.file, 10).ok());  // still cached
    EXPECT_EQ(f.piece->produced, 11);
    ASSERT_TRUE(f.cache->get(*f.file, 0).ok());   // evicted long ago: produced again
    EXPECT_EQ(f.piece->produced, 12);
}

TEST(ChunkCache, PinnedChunksAreNeverReused) {
    Fixture f(2, 8 * Fixture::kChunk);
    auto a = f.cache->get(*f.file, 0);
    auto b = f.cache->get(*f.file, 1);
    ASSERT_TRUE(a.ok() && b.ok());
    std::atomic<bool> done{false};
    std::thread t([&] {
        auto c = f.cache->get(*f.file, 2);  // must wait: both slots pinned
        EXPECT_TRUE(c.ok() && f.check(*c, 2));
        done = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(done);
    EXPECT_TRUE(f.check(*a, 0));
    EXPECT_TRUE(f.check(*b, 1));
    a->release();
    t.join();
    EXPECT_TRUE(done);
    EXPECT_TRUE(f.check(*b, 1));
}

TEST(ChunkCache, FailedFillsAreReportedAndRetried) {
    Fixture f(4, 4 * Fixture::kChunk);
    f.piece->fail_next = 1;
    auto p = f.cache->get(*f.file, 1);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, EIO);
    EXPECT_EQ(f.stats.fill_errors, 1u);
    auto q = f.cache->get(*f.file, 1);
    ASSERT_TRUE(q.ok());
    EXPECT_TRUE(f.check(*q, 1));
}

TEST(ChunkCache, WaitersOfAFailedFillSeeTheError) {
    Fixture f(4, 4 * Fixture::kChunk);
    f.piece->delay = 50ms;
    f.piece->fail_next = 1;
    EXPECT_GE(f.failed_readers(0, 4), 1);
    EXPECT_TRUE(f.cache->get(*f.file, 0).ok());
}

// A transform that throws (std::bad_alloc) fails that fill with ENOMEM — its waiters see the
// error, the next read fills the chunk — and on a pool worker (a prefetch) it neither kills the
// daemon nor stops the pool.
TEST(ChunkCache, AFillThatThrowsIsAnErrorNotAHangOrACrash) {
    Fixture f(4, 4 * Fixture::kChunk);
    f.piece->delay = 50ms;
    f.piece->throw_next = 1;
    EXPECT_GE(f.failed_readers(2, 3, ENOMEM), 1);
    auto p = f.cache->get(*f.file, 2);
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(f.check(*p, 2));

    WorkerPool pool(1);
    std::atomic<bool> after{false};
    pool.submit([] { throw std::runtime_error("a stray exception"); });
    pool.submit([&] { after = true; });
    for (int i = 0; i < 200 && !after; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_TRUE(after);
}

TEST(ChunkCache, CorrectBytesUnderConcurrentLoad) {
    Fixture f(6, 64 * Fixture::kChunk);
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&, t] {
            std::mt19937 rng(t);
            for (int i = 0; i < 400; ++i) {
                uint64_t c = rng() % 64;
                auto p = f.cache->get(*f.file, c);
                if (!p.ok() || !f.check(*p, c)) bad++;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(bad, 0);
}

TEST(ParallelFor, EveryIndexOnceAndTheFirstFailureRethrown) {
    std::vector<std::atomic<int>> seen(1000);
    wfs::parallel_for(seen.size(), [&](size_t i) { seen[i].fetch_add(1); });
    for (auto& s : seen) EXPECT_EQ(s.load(), 1);
    std::atomic<int> ran{0};
    EXPECT_THROW(wfs::parallel_for(100, [&](size_t i) {
                     ran.fetch_add(1);
                     if (i == 37) throw std::runtime_error("shard 37");
                 }),
                 std::runtime_error);
    EXPECT_EQ(ran.load(), 100);  // the others still ran: every thread is joined before it returns
    wfs::parallel_for(0, [](size_t) { FAIL(); });
}

TEST(Materialize, ExactBytesAndProgressEvenFromEveryPoolWorkerAtOnce) {
    // Each of the pool's two workers materializes a file, asking for helpers from the same busy
    // pool: a helper that starts after the work ran out must return, not be waited for.
    constexpr uint64_t kSize = (9ull << 20) + 12345;  // pieces of 2 MiB and a ragged tail
    auto piece = std::make_shared<PatternPiece>();
    VirtualFile file("t", std::vector<Extent>{{0, kSize, piece, 0}}, kSize, std::vector<std::string>{});
    WorkerPool pool(2);
    std::vector<std::vector<uint8_t>> out(2, std::vector<uint8_t>(kSize));
    std::atomic<uint64_t> progress[2] = {0, 0};
    std::atomic<int> done{0};
    for (int k = 0; k < 2; ++k)
        pool.submit([&, k] {
            Status st = materialize(file, out[k].data(), pool, 3, [&](uint64_t n) { progress[k] += n; return true; });
            EXPECT_TRUE(st.ok());
            done++;
        });
    for (int i = 0; i < 1000 && done < 2; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(done.load(), 2) << "materialize waited for a helper queued behind itself";
    for (int k = 0; k < 2; ++k) {
        EXPECT_EQ(progress[k].load(), kSize);
        bool same = true;
        for (uint64_t i = 0; i < kSize && same; ++i) same = out[k][i] == PatternPiece::byte_at(i);
        EXPECT_TRUE(same) << "file " << k;
    }
    // A failure is returned, and the helpers stop.
    piece->fail_next = 1;
    std::vector<uint8_t> buf(kSize);
    Status st = materialize(file, buf.data(), pool, 3);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, EIO);
    // A progress callback that says stop (the daemon is exiting) ends it early.
    std::atomic<int> pieces{0};
    st = materialize(file, buf.data(), pool, 3, [&](uint64_t) { return ++pieces < 2; });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ECANCELED);
    EXPECT_LE(pieces.load(), 4);  // the pieces already under way finish; no new one starts
}

TEST(Materialize, EachPieceIsPreparedBeforeItIsWrittenAndAPreparationErrorStopsTheWork) {
    // The backing store allocates a piece's pages in the prepare hook (by the thread that writes
    // it); a full tmpfs there must end the materialization with that error, no piece written
    // after it.
    constexpr uint64_t kSize = (9ull << 20) + 12345;
    VirtualFile file("t", std::vector<Extent>{{0, kSize, std::make_shared<PatternPiece>(), 0}}, kSize,
                     std::vector<std::string>{});
    WorkerPool pool(2);
    std::vector<uint8_t> buf(kSize, 0xAB);
    std::mutex mu;
    std::vector<std::pair<uint64_t, uint64_t>> prepared;
    Status st = materialize(file, buf.data(), pool, 3, {}, [&](uint64_t off, uint64_t len) -> Status {
        EXPECT_EQ(buf[off], 0xAB) << "piece at " << off << " written before it was prepared";
        std::lock_guard lock(mu);
        prepared.emplace_back(off, len);
        return {};
    });
    ASSERT_TRUE(st.ok());
    std::sort(prepared.begin(), prepared.end());
    ASSERT_EQ(prepared.size(), 5u);  // 4 whole 2 MiB pieces and the tail
    for (size_t i = 0; i < prepared.size(); ++i) EXPECT_EQ(prepared[i].first, i * (2ull << 20));
    EXPECT_EQ(prepared.back().second, kSize - (8ull << 20));
    bool same = true;
    for (uint64_t i = 0; i < kSize && same; ++i) same = buf[i] == PatternPiece::byte_at(i);
    EXPECT_TRUE(same);
    std::atomic<int> calls{0};
    st = materialize(file, buf.data(), pool, 3, {}, [&](uint64_t, uint64_t) -> Status {
        return ++calls == 2 ? Status{make_error(ENOSPC, "allocating the backing file: No space left on device")} : Status{};
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ENOSPC);
    EXPECT_LE(calls.load(), 4);  // pieces under way may finish; no new one starts
}

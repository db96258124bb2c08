#include "weightfs/materialize.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

namespace wfs {

Status materialize(const VirtualFile& file, uint8_t* base, WorkerPool& pool, unsigned threads) {
    const uint64_t size = file.size();
    constexpr uint64_t kPiece = 2ull << 20;
    const uint64_t pieces = (size + kPiece - 1) / kPiece;
    std::atomic<uint64_t> next{0};
    std::mutex mu;
    std::condition_variable cv;
    Error first_error;
    bool failed = false;
    unsigned running = 0;
    auto work = [&] {
        for (uint64_t p; (p = next.fetch_add(1)) < pieces;) {
            const uint64_t off = p * kPiece, len = std::min(kPiece, size - off);
            Status st = file.produce(off, static_cast<size_t>(len), base + off);
            if (!st) {
                std::lock_guard lock(mu);
                if (!failed) first_error = st.error();
                failed = true;
                next = pieces;
            }
        }
    };
    const unsigned helpers = threads > 1 ? threads - 1 : 0;
    for (unsigned i = 0; i < helpers; ++i) {
        {
            std::lock_guard lock(mu);
            ++running;
        }
        pool.submit([&] {
            work();
            std::lock_guard lock(mu);
            --running;
            cv.notify_all();
        });
    }
    work();
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return running == 0; });
    if (failed) return first_error;
    return {};
}

}  // namespace wfs

#include "weightfs/materialize.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace wfs {

namespace {

constexpr uint64_t kPiece = 2ull << 20;

// Shared with the helpers, which may outlive the call (a helper still queued when the work ran
// out starts later, sees `closed` and returns).
struct Job {
    const VirtualFile* file;
    uint8_t* base;
    Progress progress;
    Prepare prepare;
    uint64_t size, pieces;
    std::atomic<uint64_t> next{0};
    std::mutex mu;
    std::condition_variable cv;
    Error first_error;
    bool failed = false, closed = false;
    unsigned running = 0;

    void work() {
        for (uint64_t p; (p = next.fetch_add(1)) < pieces;) {
            const uint64_t off = p * kPiece, len = std::min(kPiece, size - off);
            Status st = prepare ? prepare(off, len) : Status{};
            if (st) st = file->produce(off, static_cast<size_t>(len), base + off);
            if (!st) stop(st.error());
            else if (progress && !progress(len)) stop(Error{ECANCELED, "stopped"});
        }
    }
    // Keeps the first error; no piece starts after it.
    void stop(Error e) {
        std::lock_guard lock(mu);
        if (!failed) first_error = std::move(e);
        failed = true;
        next = pieces;
    }
};

}  // namespace

Status materialize(const VirtualFile& file, uint8_t* base, WorkerPool& pool, unsigned threads, const Progress& progress,
                   const Prepare& prepare) {
    auto job = std::make_shared<Job>();
    job->file = &file;
    job->base = base;
    job->progress = progress;
    job->prepare = prepare;
    job->size = file.size();
    job->pieces = (job->size + kPiece - 1) / kPiece;
    const uint64_t helpers = std::min<uint64_t>(threads > 1 ? threads - 1 : 0, job->pieces > 0 ? job->pieces - 1 : 0);
    for (uint64_t i = 0; i < helpers; ++i)
        pool.submit([job] {
            {
                std::lock_guard lock(job->mu);
                if (job->closed) return;
                ++job->running;
            }
            job->work();
            std::lock_guard lock(job->mu);
            --job->running;
            job->cv.notify_all();
        });
    job->work();
    std::unique_lock lock(job->mu);
    job->closed = true;  // from here no helper starts; wait only for those that did
    job->cv.wait(lock, [&] { return job->running == 0; });
    if (job->failed) return job->first_error;
    return {};
}

}  // namespace wfs

// WorkerPool: a fixed set of threads that run prefetch and preload fills off the FUSE threads,
// so a sequential reader sees production overlapped with delivery.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace wfs {

class WorkerPool {
public:
    explicit WorkerPool(unsigned threads);
    ~WorkerPool();
    void submit(std::function<void()> task);
    size_t queued();
    unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

private:
    void run();
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

// Runs fn(0) … fn(n-1) on up to one short-lived thread per core, all joined before it returns
// (so it is safe before the daemon forks, when the pool does not exist yet). For start-up work
// such as parsing a checkpoint's shard headers. The first exception a call throws is rethrown.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

}  // namespace wfs

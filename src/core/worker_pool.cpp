#include "weightfs/worker_pool.hpp"

#include <algorithm>
#include <atomic>
#include <exception>

#include <spdlog/spdlog.h>

namespace wfs {

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
    const size_t workers = std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
    if (workers <= 1) {
        for (size_t i = 0; i < n; ++i) fn(i);
        return;
    }
    std::atomic<size_t> next{0};
    std::exception_ptr failed;
    std::mutex failed_mu;
    auto work = [&] {
        for (size_t i; (i = next.fetch_add(1)) < n;) {
            try {
                fn(i);
            } catch (...) {
                std::lock_guard lock(failed_mu);
                if (!failed) failed = std::current_exception();
            }
        }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    if (failed) std::rethrow_exception(failed);
}

WorkerPool::WorkerPool(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        tasks_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void WorkerPool::submit(std::function<void()> task) {
    {
        std::lock_guard lock(mu_);
        tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
}

size_t WorkerPool::queued() {
    std::lock_guard lock(mu_);
    return tasks_.size();
}

void WorkerPool::run() {
    for (;;) {
        std::function<void()> task;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
            if (stop_) return;
            task = std::move(tasks_.front());
            tasks_.pop_front();
        }
        // A task reports its own errors; one that throws anyway must not take the daemon down.
        try {
            task();
        } catch (const std::exception& e) {
            spdlog::error("a background task failed: {}", e.what());
        } catch (...) {
            spdlog::error("a background task failed");
        }
    }
}

}  // namespace wfs

#include "weightfs/chunk_cache.hpp"

#include <algorithm>
#include <chrono>

namespace wfs {

ChunkCache::ChunkCache(uint8_t* memory, uint64_t bytes, uint64_t chunk_size, Stats& stats)
    : memory_(memory), chunk_(chunk_size), stats_(stats), slots_(std::max<uint64_t>(1, bytes / chunk_size)) {}

ChunkCache::Pin& ChunkCache::Pin::operator=(Pin&& o) noexcept {
    if (this != &o) {
        release();
        cache_ = o.cache_;
        slot_ = o.slot_;
        data_ = o.data_;
        size_ = o.size_;
        was_ready_ = o.was_ready_;
        o.cache_ = nullptr;
    }
    return *this;
}

void ChunkCache::Pin::release() {
    if (cache_) cache_->unpin(slot_);
    cache_ = nullptr;
}

void ChunkCache::unpin(size_t slot) {
    std::lock_guard lock(mu_);
    Slot& s = slots_[slot];
    if (--s.pins == 0) cv_.notify_all();
}

uint64_t ChunkCache::used_bytes() {
    std::lock_guard lock(mu_);
    return ready_bytes_;
}

size_t ChunkCache::used_slots() {
    std::lock_guard lock(mu_);
    return index_.size();
}

bool ChunkCache::present(const VirtualFile& file, uint64_t index) {
    std::lock_guard lock(mu_);
    return index_.count(Key{file.id(), index}) != 0;
}

size_t ChunkCache::claim_slot(std::unique_lock<std::mutex>& lock) {
    for (;;) {
        // Two sweeps: the first clears reference bits, the second is then sure to find a victim
        // unless everything is pinned or filling.
        for (size_t step = 0; step < 2 * slots_.size(); ++step) {
            size_t i = hand_;
            hand_ = (hand_ + 1) % slots_.size();
            Slot& s = slots_[i];
            if (s.pins > 0 || s.state == State::Filling) continue;
            if (s.state == State::Ready && s.referenced) {
                s.referenced = false;
                continue;
            }
            if (s.state == State::Ready) {
                index_.erase(s.key);
                ready_bytes_ -= s.valid;
                stats_.evictions.fetch_add(1, std::memory_order_relaxed);
            }
            return i;
        }
        cv_.wait(lock);
    }
}

Result<ChunkCache::Pin> ChunkCache::get(const VirtualFile& file, uint64_t index) {
    const uint64_t start = index * chunk_;
    if (start >= file.size()) return make_error(EIO, "internal: chunk past end of file");
    const size_t len = static_cast<size_t>(std::min<uint64_t>(chunk_, file.size() - start));
    const Key key{file.id(), index};

    std::unique_lock lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
        size_t i = it->second;
        Slot& s = slots_[i];
        s.pins++;
        s.referenced = true;
        const bool ready = s.state != State::Filling;
        if (!ready) {
            stats_.waits.fetch_add(1, std::memory_order_relaxed);
            cv_.wait(lock, [&] { return s.state != State::Filling; });
        } else {
            stats_.hits.fetch_add(1, std::memory_order_relaxed);
        }
        if (s.state != State::Ready) {
            Error e = s.error;
            if (--s.pins == 0) cv_.notify_all();
            return e;
        }
        Pin p;
        p.cache_ = this;
        p.slot_ = i;
        p.data_ = memory_ + i * chunk_;
        p.size_ = s.valid;
        p.was_ready_ = ready;
        return p;
    }

    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    size_t i = claim_slot(lock);
    Slot& s = slots_[i];
    s.key = key;
    s.state = State::Filling;
    s.pins = 1;
    s.referenced = true;
    s.valid = len;
    index_[key] = i;
    lock.unlock();

    auto t0 = std::chrono::steady_clock::now();
    Status st = file.produce(start, len, memory_ + i * chunk_);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();

    lock.lock();
    if (st.ok()) {
        s.state = State::Ready;
        ready_bytes_ += len;
        stats_.fills.fetch_add(1, std::memory_order_relaxed);
        stats_.fill_bytes.fetch_add(len, std::memory_order_relaxed);
        stats_.fill_ns.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
    } else {
        // Waiters see the error; the key is dropped so the next reader retries the source.
        s.state = State::Failed;
        s.error = st.error();
        index_.erase(key);
        s.pins--;
        stats_.fill_errors.fetch_add(1, std::memory_order_relaxed);
    }
    cv_.notify_all();
    if (!st.ok()) return st.error();
    Pin p;
    p.cache_ = this;
    p.slot_ = i;
    p.data_ = memory_ + i * chunk_;
    p.size_ = len;
    return p;
}

}  // namespace wfs

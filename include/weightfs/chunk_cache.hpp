// ChunkCache: fixed-size chunks of virtual files in the arena, shared by every reader.
//
// - One fill per chunk: the first reader to miss claims a slot and produces the chunk; readers
//   that arrive meanwhile wait for that fill instead of starting their own.
// - Pinned while copied out: a Pin keeps its slot from being evicted until it is dropped.
// - CLOCK eviction among unpinned slots, within the arena's fixed budget.
// Lock order: the cache mutex is the only lock here and is never held while producing bytes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "weightfs/arena.hpp"
#include "weightfs/stats.hpp"
#include "weightfs/virtual_file.hpp"

namespace wfs {

class ChunkCache {
public:
    ChunkCache(uint8_t* memory, uint64_t bytes, uint64_t chunk_size, Stats& stats);

    class Pin {
    public:
        Pin() = default;
        Pin(Pin&& o) noexcept { *this = std::move(o); }
        Pin& operator=(Pin&& o) noexcept;
        ~Pin() { release(); }
        const uint8_t* data() const { return data_; }
        size_t size() const { return size_; }
        // False when this lookup had to fill the chunk or wait for a fill: the reader was ahead
        // of prefetch.
        bool was_ready() const { return was_ready_; }
        void release();

    private:
        friend class ChunkCache;
        ChunkCache* cache_ = nullptr;
        size_t slot_ = 0;
        const uint8_t* data_ = nullptr;
        size_t size_ = 0;
        bool was_ready_ = false;
    };

    // Returns chunk `index` of `file` pinned, producing it in the calling thread on a miss.
    Result<Pin> get(const VirtualFile& file, uint64_t index);
    // True when the chunk is ready or being filled (prefetch need not queue it).
    bool present(const VirtualFile& file, uint64_t index);

    uint64_t chunk_size() const { return chunk_; }
    size_t slots() const { return slots_.size(); }
    uint64_t used_bytes();
    // Slots holding a chunk (ready or being filled): the memory the cache occupies, since a
    // file's last, short chunk still takes a whole slot.
    size_t used_slots();

private:
    enum class State : uint8_t { Free, Filling, Ready, Failed };
    struct Key {
        uint64_t file, index;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.file * 0x9E3779B97F4A7C15ull ^ k.index); }
    };
    struct Slot {
        Key key{0, 0};
        State state = State::Free;
        uint32_t pins = 0;
        bool referenced = false;
        size_t valid = 0;
        Error error;
    };

    // Picks a victim slot with the CLOCK hand; waits while every slot is pinned. Lock held.
    size_t claim_slot(std::unique_lock<std::mutex>& lock);
    void unpin(size_t slot);

    uint8_t* memory_;
    uint64_t chunk_;
    Stats& stats_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Slot> slots_;
    std::unordered_map<Key, size_t, KeyHash> index_;
    size_t hand_ = 0;
    uint64_t ready_bytes_ = 0;
};

}  // namespace wfs

// Arena: the memory the chunk cache lives in — explicit hugetlb pages (2 MiB or 1 GiB) when the
// pool can give them, else transparent huge pages, else plain pages — with a NUMA policy bound
// before the first touch. Owns any hugepages it reserved and gives them back when destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "weightfs/result.hpp"

namespace wfs {

enum class HugepageMode { Auto, Require, Off };

struct NumaPolicy {
    enum Kind { Interleave, Local, Node } kind = Interleave;
    int node = 0;
};

struct ArenaConfig {
    uint64_t bytes = 0;
    HugepageMode hugepages = HugepageMode::Auto;
    uint64_t hugepage_size = 2ull << 20;  // 2 MiB or 1 GiB
    uint64_t reserve_hugepages = 0;       // raise nr_hugepages by this many at start, restore at exit
    bool pool_for_files = false;          // serve=hugetlb: the pool is for hugetlbfs files, the cache takes THP
    NumaPolicy numa;
};

class Arena {
public:
    static Result<std::unique_ptr<Arena>> create(const ArenaConfig& config);
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    uint8_t* base() const { return base_; }
    uint64_t size() const { return size_; }
    const std::string& page_kind() const { return page_kind_; }    // "hugetlb-2M", "hugetlb-1G", "thp", "4k"
    const std::string& page_note() const { return page_note_; }    // why this kind (fallback reason)
    const std::string& numa_report() const { return numa_report_; }  // policy asked for and as the kernel reports it
    uint64_t reserved_hugepages() const { return reserved_; }

private:
    Arena() = default;
    uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    void* map_ = nullptr;
    uint64_t map_size_ = 0;
    std::string page_kind_, page_note_, numa_report_;
    std::string pool_path_;    // nr_hugepages file we raised
    uint64_t reserved_ = 0;
};

std::string numa_policy_name(const NumaPolicy& p);

}  // namespace wfs

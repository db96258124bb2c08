// SourceFile: one regular file under SOURCE, opened once, read with exact-length preads.
// A read that comes back short is an error (EIO), never zero padding: a FUSE reply padded
// with zeros would be wrong bytes. Every read also checks that the file is still the one that
// was scanned (same inode at the same path, same size and mtime): views were built from its
// header, so bytes of a truncated, rewritten, replaced or deleted source would be a mix of two
// files. Once changed, the file is stale for good and every read is EIO until a remount.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "weightfs/result.hpp"

namespace wfs {

class SourceFile {
public:
    // Opens `path` read-only; `rel` is the path relative to SOURCE, used in messages.
    static Result<std::shared_ptr<SourceFile>> open(const std::string& path, const std::string& rel);
    // Opens `rel` under the directory `root` by wfs::open_beneath(): the file reached lies inside
    // root, whatever a link or directory on the way became since the scan looked at it.
    static Result<std::shared_ptr<SourceFile>> open_beneath(const std::string& root, const std::string& rel);
    ~SourceFile();
    SourceFile(const SourceFile&) = delete;
    SourceFile& operator=(const SourceFile&) = delete;

    // Reads exactly `len` bytes at `offset` into `dst`, retrying partial reads.
    Status read_exact(uint64_t offset, size_t len, void* dst) const;

    const std::string& path() const { return path_; }
    const std::string& rel() const { return rel_; }
    int fd() const { return fd_; }  // read-only; a passthrough open hands it to the kernel
    uint64_t size() const { return size_; }
    uint32_t mode() const { return mode_; }
    int64_t mtime_sec() const { return mtime_ns_ / 1000000000; }
    bool stale() const { return stale_.load(std::memory_order_acquire); }  // pairs with the store after stale_reason_
    // Checks now (not only at the next read) that the file is still the one scanned; turns it
    // stale and returns the EIO error when it is not.
    Status verify() const;
    // The whole file mapped read-only (on first use), or nullptr when it cannot be mapped.
    // Only the kernel reads through it (a FUSE reply's iovec): a page that cannot be read then
    // fails that reply with EFAULT instead of raising SIGBUS in the daemon.
    const uint8_t* mapping() const;
    // Drops the daemon's page-table entries for [at, at+len) if that lies in the mapping (the
    // pages stay in the page cache): the daemon's resident memory stays its cache, not every
    // source byte it ever sent. Measured: no cost to cold reads.
    void unmap_pages(const uint8_t* at, size_t len) const;

private:
    SourceFile() = default;
    static Result<std::shared_ptr<SourceFile>> adopt(int fd, const std::string& path, const std::string& rel);
    // Empty when the file is as scanned; else why not.
    std::string changed() const;
    Status mark_stale(const std::string& why) const;
    Status stale_error() const;

    int fd_ = -1;
    std::string path_, rel_;
    uint64_t size_ = 0;
    uint32_t mode_ = 0;
    int64_t mtime_ns_ = 0;
    uint64_t dev_ = 0, ino_ = 0;
    mutable std::atomic<bool> stale_{false};
    mutable std::string stale_reason_;  // written once, before stale_ is set
    mutable std::once_flag map_once_;
    mutable const uint8_t* map_ = nullptr;
    mutable std::atomic<uint64_t> sent_since_drop_{0};
};

using SourceFilePtr = std::shared_ptr<const SourceFile>;

}  // namespace wfs

// SourceFile: one regular file under SOURCE, opened once, read with exact-length preads.
// A read that comes back short is an error (EIO), never zero padding: a FUSE reply padded
// with zeros would be wrong bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "weightfs/result.hpp"

namespace wfs {

class SourceFile {
public:
    // Opens `path` read-only; `rel` is the path relative to SOURCE, used in messages.
    static Result<std::shared_ptr<SourceFile>> open(const std::string& path, const std::string& rel);
    ~SourceFile();
    SourceFile(const SourceFile&) = delete;
    SourceFile& operator=(const SourceFile&) = delete;

    // Reads exactly `len` bytes at `offset` into `dst`, retrying partial reads.
    Status read_exact(uint64_t offset, size_t len, void* dst) const;

    const std::string& path() const { return path_; }
    const std::string& rel() const { return rel_; }
    uint64_t size() const { return size_; }
    uint32_t mode() const { return mode_; }
    int64_t mtime_sec() const { return mtime_; }

private:
    SourceFile() = default;
    int fd_ = -1;
    std::string path_, rel_;
    uint64_t size_ = 0;
    uint32_t mode_ = 0;
    int64_t mtime_ = 0;
};

using SourceFilePtr = std::shared_ptr<const SourceFile>;

}  // namespace wfs

// VirtualFile: what a view shows at one path — an exact size, the extents that produce its
// bytes, and where they come from. Immutable once built; shared by the tree and the cache.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "weightfs/extent.hpp"

namespace wfs {

class VirtualFile {
public:
    VirtualFile(std::string view, std::vector<Extent> extents, uint64_t size, std::vector<std::string> sources,
                uint32_t mode = 0444, int64_t mtime = 0);

    // Produces bytes [offset, offset+len) into dst. Precondition: offset + len <= size().
    // Never throws: a transform that cannot get memory (std::bad_alloc) is an ENOMEM error for
    // this read, not a fill left half-done (its cache slot waited on forever) or a dead daemon.
    Status produce(uint64_t offset, size_t len, uint8_t* dst) const noexcept;

    // Bytes [offset, offset+len) as pointers to where they already sit unchanged (headers, the
    // sources' mapped pages), appended to `iov`, with the sources they point into appended to
    // `sources`; false (and nothing usable appended) when some must be produced, or when
    // more than `max_iov` pieces would be needed.
    bool map_range(uint64_t offset, size_t len, std::vector<iovec>& iov, std::vector<const SourceFile*>& sources,
                   size_t max_iov) const;

    uint64_t size() const { return size_; }
    const std::string& view() const { return view_; }
    const std::vector<std::string>& sources() const { return sources_; }
    const std::vector<Extent>& extents() const { return extents_; }
    uint32_t mode() const { return mode_; }  // the given mode, narrowed to its sources' permissions
    int64_t mtime() const { return mtime_; }

    // The source file this file is, byte for byte, when it is one whole source file unchanged
    // (a single GGUF in concat/, a tokenizer file beside a model), else nullptr.
    const SourceFile* whole_source() const;

    // Every source file it reads (once each): checked at open, so a file whose source changed
    // fails there, before a consumer maps it (a MAP_POPULATE over pages that cannot be read
    // never returns on Linux 6.x).
    Status verify_sources() const;

    // Cache key: unique per VirtualFile for the life of the process.
    uint64_t id() const { return id_; }

private:
    template <class Step>
    bool walk(uint64_t offset, size_t len, Step step) const;

    std::string view_;
    std::vector<Extent> extents_;
    uint64_t size_;
    std::vector<std::string> sources_;  // source paths relative to SOURCE
    uint32_t mode_;
    std::vector<const SourceFile*> source_files_;  // kept alive by the extents' pieces
    int64_t mtime_;
    uint64_t id_;
};

using VirtualFilePtr = std::shared_ptr<const VirtualFile>;

}  // namespace wfs

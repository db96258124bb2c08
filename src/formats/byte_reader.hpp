// ByteReader: the bounded input every format parser reads through — a source file or a memory
// buffer (unit tests, fuzzing). Cursor adds buffered, overflow-checked sequential reads.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "weightfs/result.hpp"
#include "weightfs/source_file.hpp"

namespace wfs {

class ByteReader {
public:
    virtual ~ByteReader() = default;
    virtual uint64_t size() const = 0;
    virtual Status read(uint64_t offset, size_t len, void* dst) const = 0;
    virtual const std::string& name() const = 0;
};

class FileByteReader final : public ByteReader {
public:
    explicit FileByteReader(const SourceFile& f) : f_(f) {}
    uint64_t size() const override { return f_.size(); }
    Status read(uint64_t offset, size_t len, void* dst) const override { return f_.read_exact(offset, len, dst); }
    const std::string& name() const override { return f_.rel(); }

private:
    const SourceFile& f_;
};

class MemoryByteReader final : public ByteReader {
public:
    MemoryByteReader(const uint8_t* data, size_t size, std::string name) : data_(data), size_(size), name_(std::move(name)) {}
    uint64_t size() const override { return size_; }
    Status read(uint64_t offset, size_t len, void* dst) const override;
    const std::string& name() const override { return name_; }

private:
    const uint8_t* data_;
    size_t size_;
    std::string name_;
};

// Sequential reader with a read-ahead window; every read is checked against the input's size.
class Cursor {
public:
    explicit Cursor(const ByteReader& in) : in_(in) {}
    uint64_t offset() const { return pos_; }
    uint64_t remaining() const { return in_.size() - pos_; }
    const ByteReader& input() const { return in_; }

    // Reads `len` bytes; `what` names the field in the error ("tensor count", "key length", ...).
    Status bytes(void* dst, size_t len, const char* what);
    Status skip(uint64_t len, const char* what);
    template <class T>
    Status pod(T& v, const char* what) { return bytes(&v, sizeof v, what); }

    Error error(const std::string& what, uint64_t at) const;
    Error error(const std::string& what) const { return error(what, pos_); }

private:
    const ByteReader& in_;
    uint64_t pos_ = 0;
    std::vector<uint8_t> buf_;
    uint64_t buf_start_ = 0;
    size_t window_ = 1 << 20;  // read-ahead; shrinks after a read error
};

}  // namespace wfs

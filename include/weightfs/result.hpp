// Result<T>: a value or an Error (errno + a message naming file, offset and what was expected).
// GCC 12 has no std::expected; this is the small in-house equivalent used across the core.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace wfs {

struct Error {
    int code = EIO;        // errno handed to the FUSE reader
    std::string message;   // "file: offset N: what was expected" — goes to the log and .weightfs/models
    uint64_t offset = 0;   // byte offset in the offending file, where one applies
};

inline Error make_error(int code, std::string message, uint64_t offset = 0) {
    return Error{code, std::move(message), offset};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace wfs

// Propagate an error from an expression yielding Result<...>/Status.
#define WFS_TRY(expr)                                    \
    do {                                                 \
        auto wfs_try_r_ = (expr);                        \
        if (!wfs_try_r_.ok()) return wfs_try_r_.error(); \
    } while (0)

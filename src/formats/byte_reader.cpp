#include "formats/byte_reader.hpp"

#include <algorithm>

namespace wfs {

Status MemoryByteReader::read(uint64_t offset, size_t len, void* dst) const {
    if (offset > size_ || len > size_ - offset)
        return make_error(EIO, name_ + ": read past end at offset " + std::to_string(offset), offset);
    std::memcpy(dst, data_ + offset, len);
    return {};
}

Error Cursor::error(const std::string& what, uint64_t at) const {
    return make_error(EINVAL, in_.name() + ": offset " + std::to_string(at) + ": " + what, at);
}

Status Cursor::bytes(void* dst, size_t len, const char* what) {
    if (len > remaining())
        return error(std::string("truncated: ") + what + " needs " + std::to_string(len) + " bytes, " +
                     std::to_string(remaining()) + " left in file");
    auto* out = static_cast<uint8_t*>(dst);
    while (len > 0) {
        if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_.size()) {
            size_t n = static_cast<size_t>(std::min<uint64_t>(window_, in_.size() - pos_));
            buf_.resize(n);
            Status st = in_.read(pos_, n, buf_.data());
            if (!st && n > len) {
                // The window reached past what is needed into bytes that cannot be read (a bad
                // sector in the tensor data, say): the header may still be fine. Read only what
                // is needed from here on.
                window_ = 4096;
                n = len;
                buf_.resize(n);
                st = in_.read(pos_, n, buf_.data());
            }
            if (!st) {
                buf_.clear();
                return st;
            }
            buf_start_ = pos_;
        }
        size_t at = static_cast<size_t>(pos_ - buf_start_);
        size_t n = std::min(len, buf_.size() - at);
        std::memcpy(out, buf_.data() + at, n);
        out += n;
        pos_ += n;
        len -= n;
    }
    return {};
}

Status Cursor::skip(uint64_t len, const char* what) {
    if (len > remaining())
        return error(std::string("truncated: ") + what + " needs " + std::to_string(len) + " bytes, " +
                     std::to_string(remaining()) + " left in file");
    pos_ += len;
    return {};
}

}  // namespace wfs

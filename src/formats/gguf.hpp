// GGUF v2/v3 — reader and metadata writer (reference/gguf.md §1).
//
//   "GGUF" u32 version | i64 n_tensors | i64 n_kv
//   KV[n_kv]:         str key | i32 type | value        (str = u64 len + bytes; array = i32 type, u64 n, elems)
//   TensorInfo[n]:    str name | u32 n_dims | i64 ne[n_dims] | i32 ggml_type | u64 offset
//   zero pad to ALIGNMENT (general.alignment, u32 power of two, default 32)
//   data: tensor i at data_start + offset[i]; offset[i] = Σ PAD(nbytes[j<i], ALIGNMENT)
//
// The reader is strict and bounded like mainline's gguf.cpp: every count and length is checked
// against the bytes left in the file before anything is allocated, keys and tensor names are
// unique, names < 64 bytes, n_dims <= 4, type ids known, sizes overflow-checked, offsets
// contiguous and inside the file. Errors name the file, the offset and what was expected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/byte_reader.hpp"

namespace wfs::gguf {

enum ValueType : int32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr size_t kMaxNameLength = 63;  // GGML_MAX_NAME - 1
inline constexpr uint64_t kMaxStringLength = 1ull << 30;
inline constexpr uint64_t kMaxArrayElements = 1ull << 30;
// The whole header (KVs and tensor infos) is held in memory for the life of the mount: bound it.
// The largest real ones (a 256k-token vocabulary with merges) are about 10 MiB.
inline constexpr uint64_t kMaxHeaderBytes = 64ull << 20;

struct KeyValue {
    std::string key;
    int32_t type = 0;
    std::vector<uint8_t> value;  // the value's encoding exactly as in the file (after the type id)
};

struct TensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};
    int32_t type = 0;
    uint64_t offset = 0;  // relative to the data section
    uint64_t nbytes = 0;  // payload size (without padding)
};

struct Header {
    uint32_t version = 3;
    std::vector<KeyValue> kv;
    std::vector<TensorInfo> tensors;
    uint32_t alignment = kDefaultAlignment;
    uint64_t info_end = 0;     // end of the tensor infos (before padding)
    uint64_t data_offset = 0;  // start of the data section
    uint64_t data_end = 0;     // data_offset + end of the last tensor's padded span

    const KeyValue* find(std::string_view key) const;
    std::optional<uint64_t> get_uint(std::string_view key) const;  // any unsigned/signed int type, >= 0
    std::optional<std::string> get_string(std::string_view key) const;
};

Result<Header> read_header(const ByteReader& in);

// ggml_n_dims: index of the last dimension > 1, plus one, at least 1.
uint32_t normalized_n_dims(const int64_t ne[4]);
inline uint64_t pad(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

KeyValue make_u16(std::string key, uint16_t v);
KeyValue make_u32(std::string key, uint32_t v);
KeyValue make_i32(std::string key, int32_t v);

// Canonicalizes a KV as ggml's gguf_set_kv round trip does: strings (and string array
// elements) cut at their first NUL byte, bools normalized to 0/1.
KeyValue roundtrip_kv(const KeyValue& kv);

// Serializes header + KVs + tensor infos + zero padding to `alignment`. Tensor offsets are
// written as given; n_dims as normalized_n_dims when `normalize_dims` (the C writer's rule).
std::vector<uint8_t> write_metadata(uint32_t version, const std::vector<KeyValue>& kv,
                                    const std::vector<TensorInfo>& tensors, uint32_t alignment, bool normalize_dims);

}  // namespace wfs::gguf

// safetensors — reader and writer (reference/fp8-bf16.md §2).
//
//   u64 N (little-endian) | N bytes of JSON header (UTF-8, padded with spaces) | data
//   header: {"__metadata__": {str: str}?, "<name>": {"dtype": D, "shape": [...], "data_offsets": [b, e]}, ...}
//
// The reader is strict and bounded like the Rust reference: N <= 100 MB and inside the file, the
// JSON parsed by a real JSON library, known dtypes only, sizes = shape × dtype bits / 8 without
// overflow, offsets contiguous from 0, and the file ends exactly at the last tensor. The writer
// reproduces safetensors' save_file bytes: tensors ordered by dtype rank (descending) then name
// (bytewise), compact JSON with serde_json's escaping, spaces to a multiple of 8.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/byte_reader.hpp"

namespace wfs::st {

// In the Rust enum's order, which is the writer's sort rank.
enum class Dtype : int {
    BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ,
    I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64,
};

std::optional<Dtype> parse_dtype(const std::string& s);
const char* dtype_name(Dtype d);
unsigned dtype_bits(Dtype d);

inline constexpr uint64_t kMaxHeader = 100'000'000;

struct Tensor {
    std::string name;
    Dtype dtype = Dtype::U8;
    std::vector<uint64_t> shape;
    uint64_t begin = 0, end = 0;  // relative to the data section
    uint64_t elements() const;
    uint64_t bytes() const { return end - begin; }
};

struct Header {
    uint64_t header_len = 0;      // N
    uint64_t data_offset = 0;     // 8 + N
    std::vector<Tensor> tensors;  // in data order
    bool has_metadata = false;

    const Tensor* find(const std::string& name) const;
};

Result<Header> read_header(const ByteReader& in);

// A tensor to write: name, dtype, shape; the writer assigns offsets.
struct OutTensor {
    std::string name;
    Dtype dtype;
    std::vector<uint64_t> shape;
    uint64_t bytes = 0;
    uint64_t begin = 0;  // set by layout()
};

// Orders `tensors` as save_file does, assigns offsets, and returns the file's first 8 + N bytes.
std::vector<uint8_t> layout(std::vector<OutTensor>& tensors);

// serde_json string escaping (what the safetensors writer emits).
std::string json_string(const std::string& s);
void append_json_string(std::string& out, const std::string& s);

}  // namespace wfs::st

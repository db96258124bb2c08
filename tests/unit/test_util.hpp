// Helpers shared by the unit tests: temp directories, file I/O, a small valid GGUF builder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.hpp"

namespace wfs::test {

std::string data_dir();  // tests/data
std::vector<uint8_t> read_file(const std::string& path);
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

private:
    std::string path_;
};

// A small, valid GGUF: a few KVs (string, u32, string array, bool) and F32/Q8_0 tensors with
// recognisable payloads. `extra_kv` is appended to the KVs.
std::vector<uint8_t> make_gguf(const std::vector<gguf::KeyValue>& extra_kv = {}, uint32_t alignment = 32);

gguf::KeyValue make_string(const std::string& key, const std::string& value);

}  // namespace wfs::test

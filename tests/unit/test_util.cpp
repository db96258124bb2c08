#include "test_util.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "formats/ggml_types.hpp"

namespace wfs::test {

std::string data_dir() { return WFS_TEST_DATA; }

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/weightfs-unit-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() { std::filesystem::remove_all(path_); }

gguf::KeyValue make_string(const std::string& key, const std::string& value) {
    gguf::KeyValue kv{key, gguf::STRING, {}};
    uint64_t n = value.size();
    kv.value.resize(8 + n);
    std::memcpy(kv.value.data(), &n, 8);
    std::memcpy(kv.value.data() + 8, value.data(), n);
    return kv;
}

std::vector<uint8_t> make_gguf(const std::vector<gguf::KeyValue>& extra_kv, uint32_t alignment) {
    std::vector<gguf::KeyValue> kv{make_string("general.architecture", "llama"), gguf::make_u32("llama.block_count", 2)};
    // A string array and a bool: the shapes that tokenizers and flags take.
    gguf::KeyValue arr{"tokenizer.ggml.tokens", gguf::ARRAY, {}};
    int32_t et = gguf::STRING;
    uint64_t n = 3;
    arr.value.resize(12);
    std::memcpy(arr.value.data(), &et, 4);
    std::memcpy(arr.value.data() + 4, &n, 8);
    for (const char* s : {"<s>", "a", "bc"}) {
        uint64_t len = std::strlen(s);
        size_t base = arr.value.size();
        arr.value.resize(base + 8 + len);
        std::memcpy(arr.value.data() + base, &len, 8);
        std::memcpy(arr.value.data() + base + 8, s, len);
    }
    kv.push_back(arr);
    kv.push_back(gguf::KeyValue{"general.flag", gguf::BOOL, {1}});
    if (alignment != 32) kv.push_back(gguf::make_u32("general.alignment", alignment));
    for (auto& e : extra_kv) kv.push_back(e);

    std::vector<gguf::TensorInfo> tensors(2);
    tensors[0].name = "token_embd.weight";
    tensors[0].n_dims = 2;
    tensors[0].ne[0] = 8;
    tensors[0].ne[1] = 3;
    tensors[0].type = ggml::type::F32;
    tensors[0].nbytes = 8 * 3 * 4;
    tensors[1].name = "blk.0.attn_q.weight";
    tensors[1].n_dims = 2;
    tensors[1].ne[0] = 64;
    tensors[1].ne[1] = 2;
    tensors[1].type = ggml::type::Q8_0;
    tensors[1].nbytes = 2 * 2 * 34;
    tensors[1].offset = gguf::pad(tensors[0].nbytes, alignment);
    auto out = gguf::write_metadata(3, kv, tensors, alignment, false);
    for (auto& t : tensors) {
        size_t base = out.size();
        out.resize(base + gguf::pad(t.nbytes, alignment), 0);
        for (uint64_t i = 0; i < t.nbytes; ++i) out[base + i] = static_cast<uint8_t>(i * 7 + t.name.size());
    }
    return out;
}

}  // namespace wfs::test

// Hugging Face checkpoint metadata: model.safetensors.index.json and config.json.
// Parsed with a real JSON library (key order kept); written as Python's json.dump(obj, f,
// indent=2) writes them (ensure_ascii escaping, ", " / ": " separators, no trailing newline),
// because that is what the reference scripts produce.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <memory>
#include <string_view>
#include <unordered_map>

#include "formats/byte_reader.hpp"

namespace wfs::hf {

inline constexpr uint64_t kMaxJson = 64ull << 20;  // index and config files are kilobytes; refuse giants

// model.safetensors.index.json's weight_map, compact: a DeepSeek-sized index has 160k entries
// naming 163 files, so file names are stored once and tensor names are packed into a few large
// blocks (no allocation per name, to make or to free).
struct Index {
    struct Entry {
        std::string_view tensor;  // into the name blocks
        uint32_t file;            // into files
    };
    std::vector<std::string> files;                            // distinct file names, first-seen order
    std::vector<Entry> entries;                                // file order (first position, last value)
    std::unordered_map<std::string_view, uint32_t> position;   // tensor -> entry
    const std::string* file_of(std::string_view tensor) const;
    const std::string& file(const Entry& e) const { return files[e.file]; }
    // A copy of `name` that lives as long as the index (blocks never move, even when it does).
    std::string_view keep(std::string_view name);

private:
    std::vector<std::unique_ptr<char[]>> blocks_;
    char* block_end_ = nullptr;
    size_t block_left_ = 0;
};

Result<Index> read_index(const ByteReader& in);

// The index as fp8_cast_bf16.py writes it: {"metadata": {}, "weight_map": {...}}.
std::string write_index(const std::vector<std::pair<std::string_view, std::string_view>>& weight_map);

// config.json without quantization_config (top level and text_config), as json.dump(indent=2).
Result<std::string> strip_quantization_config(const ByteReader& in, bool* had_it);

// The architecture named in config.json (architectures[0]), or "" when absent.
Result<std::string> read_architecture(const ByteReader& in);

// The numbers of a decoder config.json that llama2.c needs (0 / false when absent).
struct ModelConfig {
    std::string architecture;
    int64_t hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0,
            num_key_value_heads = 0, vocab_size = 0, max_position_embeddings = 0, head_dim = 0;
    bool tie_word_embeddings = false;
};
Result<ModelConfig> read_model_config(const ByteReader& in);

// Python's json string encoding with ensure_ascii=True.
std::string python_json_string(const std::string& utf8);
void append_python_json_string(std::string& out, std::string_view utf8);

}  // namespace wfs::hf

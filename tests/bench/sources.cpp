#include "sources.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"
#include "formats/safetensors.hpp"

namespace fs = std::filesystem;

namespace bench {

void fill_random(uint8_t* p, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        std::memcpy(p + i, &x, 8);
    }
    for (; i < n; ++i) p[i] = static_cast<uint8_t>(i);
}

void write_random_file(const std::string& path, uint64_t size, uint64_t seed) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<uint8_t> buf(8 << 20);
    for (uint64_t done = 0; done < size;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
        fill_random(buf.data(), n, seed + done);
        if (write(fd, buf.data(), n) != static_cast<ssize_t>(n)) throw std::runtime_error("write failed: " + path);
        done += n;
    }
    close(fd);
}

// One GGUF of `size` bytes of 4096-wide tensors of `type` (random bytes: repacking moves bits, it
// does not interpret them), with general.file_type set.
void write_gguf(const std::string& path, int32_t type, uint64_t size) {
    using namespace wfs;
    const ggml::TypeTraits& tt = *ggml::find_type(type);
    const int64_t row = 4096, rows = 1024;
    const uint64_t tensor_bytes = static_cast<uint64_t>(rows) * (row / tt.block_elems * tt.block_bytes);
    const int n = static_cast<int>(std::max<uint64_t>(1, size / tensor_bytes));
    std::vector<gguf::KeyValue> kv{gguf::make_u32("general.file_type", 15), gguf::make_u32("general.quantization_version", 2)};
    std::vector<gguf::TensorInfo> infos;
    for (int t = 0; t < n; ++t) {
        gguf::TensorInfo ti;
        ti.name = "blk." + std::to_string(t) + ".ffn_up_exps.weight";
        ti.n_dims = 2;
        ti.ne[0] = row;
        ti.ne[1] = rows;
        ti.type = type;
        ti.nbytes = tensor_bytes;
        ti.offset = static_cast<uint64_t>(t) * gguf::pad(tensor_bytes, 32);
        infos.push_back(ti);
    }
    auto meta = gguf::write_metadata(3, kv, infos, 32, true);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<uint8_t> data(tensor_bytes);
    if (write(fd, meta.data(), meta.size()) != static_cast<ssize_t>(meta.size())) throw std::runtime_error("write");
    for (int t = 0; t < n; ++t) {
        fill_random(data.data(), data.size(), static_cast<uint64_t>(t) * 77 + static_cast<uint64_t>(type));
        if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) throw std::runtime_error("write");
    }
    close(fd);
}

// A gguf-split set of `shards` files holding Q8_0 tensors of 64 MiB rows in total `size` bytes.
void write_split_set(const std::string& dir, const std::string& prefix, uint64_t size, int shards) {
    using namespace wfs;
    const int64_t row = 4096, rows_per_tensor = 64ull << 20 / (row / 32 * 34) ;
    const uint64_t tensor_bytes = static_cast<uint64_t>(rows_per_tensor) * (row / 32 * 34);
    int n_tensors = static_cast<int>(std::max<uint64_t>(shards, size / tensor_bytes));
    int per_shard = (n_tensors + shards - 1) / shards;
    std::vector<uint8_t> data(tensor_bytes);
    for (int s = 0; s < shards; ++s) {
        std::vector<gguf::KeyValue> kv;
        if (s == 0) {
            gguf::KeyValue arch{"general.architecture", gguf::STRING, {}};
            const std::string v = "llama";
            uint64_t n = v.size();
            arch.value.resize(8 + n);
            std::memcpy(arch.value.data(), &n, 8);
            std::memcpy(arch.value.data() + 8, v.data(), n);
            kv.push_back(arch);
        }
        kv.push_back(gguf::make_u16("split.no", static_cast<uint16_t>(s)));
        kv.push_back(gguf::make_u16("split.count", static_cast<uint16_t>(shards)));
        kv.push_back(gguf::make_i32("split.tensors.count", n_tensors));
        std::vector<gguf::TensorInfo> infos;
        for (int t = s * per_shard; t < std::min(n_tensors, (s + 1) * per_shard); ++t) {
            gguf::TensorInfo ti;
            ti.name = "blk." + std::to_string(t) + ".ffn_up.weight";
            ti.n_dims = 2;
            ti.ne[0] = row;
            ti.ne[1] = rows_per_tensor;
            ti.type = ggml::type::Q8_0;
            ti.nbytes = tensor_bytes;
            ti.offset = infos.size() * gguf::pad(tensor_bytes, 32);
            infos.push_back(ti);
        }
        char name[64];
        std::snprintf(name, sizeof name, "-%05d-of-%05d.gguf", s + 1, shards);
        std::string path = dir + "/" + prefix + name;
        auto meta = gguf::write_metadata(3, kv, infos, 32, true);
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (write(fd, meta.data(), meta.size()) != static_cast<ssize_t>(meta.size())) throw std::runtime_error("write");
        for (auto& ti : infos) {
            fill_random(data.data(), data.size(), std::hash<std::string>()(ti.name));
            if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) throw std::runtime_error("write");
        }
        close(fd);
    }
}

// A DeepSeek-style FP8 checkpoint: 4096×4096 F8_E4M3 weights with F32 128×128 block scales,
// four per shard, `size` bytes of FP8 in all, with an index and a config.
namespace {
constexpr uint64_t kFp8Side = 4096;
constexpr int kFp8PerShard = 4;
int fp8_weights(uint64_t size) { return static_cast<int>(std::max<uint64_t>(4, size / (kFp8Side * kFp8Side))); }
}  // namespace

std::vector<std::string> fp8_checkpoint_files(uint64_t size) {
    const int shards = (fp8_weights(size) + kFp8PerShard - 1) / kFp8PerShard;
    std::vector<std::string> files;
    for (int s = 0; s < shards; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        files.push_back(name);
    }
    return files;
}

std::string st_layer_shard() { return "model-00002-of-00004.safetensors"; }

std::vector<std::string> write_fp8_checkpoint(const std::string& dir, uint64_t size) {
    using namespace wfs;
    fs::create_directories(dir);
    const uint64_t n = kFp8Side, weight = n * n, grid = (n / 128) * (n / 128);
    const int weights = fp8_weights(size), per_shard = kFp8PerShard;
    const int shards = (weights + per_shard - 1) / per_shard;
    std::vector<uint8_t> data(weight);
    std::vector<float> scales(grid);
    std::string map;
    std::vector<std::string> files;
    for (int s = 0; s < shards; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        std::vector<st::OutTensor> t;
        for (int w = s * per_shard; w < std::min(weights, (s + 1) * per_shard); ++w) {
            std::string base = "model.layers." + std::to_string(w) + ".mlp.up_proj.weight";
            t.push_back({base, st::Dtype::F8_E4M3, {n, n}, weight, 0});
            t.push_back({base + "_scale_inv", st::Dtype::F32, {n / 128, n / 128}, grid * 4, 0});
            map += std::string(map.empty() ? "" : ",\n") + "    \"" + base + "\": \"" + name + "\",\n    \"" + base +
                   "_scale_inv\": \"" + name + "\"";
        }
        auto header = st::layout(t);
        std::string path = dir + "/" + name;
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size())) throw std::runtime_error("write");
        for (auto& ti : t) {
            if (ti.dtype == st::Dtype::F8_E4M3) {
                fill_random(data.data(), data.size(), std::hash<std::string>()(ti.name));
                for (auto& b : data) b = (b & 0x7F) == 0x7F ? 0x7E : b;  // real checkpoints hold no NaN codes
                if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) throw std::runtime_error("write");
            } else {
                for (size_t i = 0; i < grid; ++i) scales[i] = 0.0005f + 0.0001f * static_cast<float>(i % 17);
                if (write(fd, scales.data(), grid * 4) != static_cast<ssize_t>(grid * 4)) throw std::runtime_error("write");
            }
        }
        close(fd);
        files.push_back(name);
    }
    std::ofstream(dir + "/model.safetensors.index.json") << "{\n  \"metadata\": {},\n  \"weight_map\": {\n" << map << "\n  }\n}";
    std::ofstream(dir + "/config.json") << "{\"model_type\": \"deepseek_v3\", \"quantization_config\": {\"quant_method\": \"fp8\"}}";
    return files;
}

// A sharded BF16 safetensors checkpoint of 8 layers (one 8192×8192 weight each, 128 MiB) in
// `size` bytes, two layers per shard, with an index; returns the shard holding layer 3.
std::string write_st_checkpoint(const std::string& dir, uint64_t size) {
    using namespace wfs;
    fs::create_directories(dir);
    const uint64_t side = 4096;  // 32 MiB per weight; several weights per layer to reach `size`
    const uint64_t weight = side * side * 2;
    const int layers = 8, per_layer = static_cast<int>(std::max<uint64_t>(1, size / layers / weight));
    std::vector<uint8_t> data(weight);
    std::string map, layer3;
    for (int s = 0; s < layers / 2; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, layers / 2);
        std::vector<st::OutTensor> t;
        for (int l = 2 * s; l < 2 * s + 2; ++l)
            for (int w = 0; w < per_layer; ++w) {
                std::string n = "model.layers." + std::to_string(l) + ".mlp.experts." + std::to_string(w) + ".up_proj.weight";
                t.push_back({n, st::Dtype::BF16, {side, side}, weight, 0});
                map += std::string(map.empty() ? "" : ",\n") + "    \"" + n + "\": \"" + name + "\"";
            }
        if (s == 1) layer3 = dir + "/" + name;  // st_layer_shard()
        auto header = st::layout(t);
        int fd = open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size())) throw std::runtime_error("write");
        for (auto& ti : t) {
            fill_random(data.data(), data.size(), std::hash<std::string>()(ti.name));
            if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) throw std::runtime_error("write");
        }
        close(fd);
    }
    std::ofstream(dir + "/model.safetensors.index.json") << "{\n  \"metadata\": {},\n  \"weight_map\": {\n" << map << "\n  }\n}";
    std::ofstream(dir + "/config.json") << "{\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": 8}";
    return layer3;
}


uint64_t write_scale_catalog(const std::string& dir, int shards, int tensors_per_shard, int gguf_shards, int gguf_tensors) {
    using namespace wfs;
    const std::string st_dir = dir + "/deepseek-v3-scale";
    fs::create_directories(st_dir);
    // 7168×2048 FP8 experts with their 56×16 F32 scales, as in DeepSeek-V3's MoE layers.
    const uint64_t rows = 7168, cols = 2048, grid_r = rows / 128, grid_c = cols / 128;
    std::string map;
    uint64_t written = 0, expert = 0;
    for (int s = 0; s < shards; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        std::vector<st::OutTensor> t;
        for (int k = 0; k < tensors_per_shard / 2; ++k, ++expert) {
            const uint64_t layer = expert / 768, e = expert % 768;
            static const char* kProj[] = {"gate_proj", "up_proj", "down_proj"};
            std::string base = "model.layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(e / 3) + "." +
                               kProj[e % 3] + ".weight";
            t.push_back({base, st::Dtype::F8_E4M3, {rows, cols}, rows * cols, 0});
            t.push_back({base + "_scale_inv", st::Dtype::F32, {grid_r, grid_c}, grid_r * grid_c * 4, 0});
            map += std::string(map.empty() ? "" : ",\n") + "    \"" + base + "\": \"" + name + "\",\n    \"" + base +
                   "_scale_inv\": \"" + name + "\"";
        }
        auto header = st::layout(t);
        uint64_t total = header.size();
        for (auto& ti : t) total += ti.bytes;
        const std::string path = st_dir + "/" + name;
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size()) ||
            ftruncate(fd, static_cast<off_t>(total)) != 0)
            throw std::runtime_error("writing " + path);
        close(fd);
        written += t.size();
    }
    std::ofstream(st_dir + "/model.safetensors.index.json") << "{\n  \"metadata\": {},\n  \"weight_map\": {\n" << map << "\n  }\n}";
    std::ofstream(st_dir + "/config.json")
        << "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": \"deepseek_v3\", \"hidden_size\": 7168, "
           "\"num_hidden_layers\": " << (expert + 767) / 768 << ", \"quantization_config\": {\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", "
           "\"weight_block_size\": [128, 128], \"activation_scheme\": \"dynamic\"}}";

    // The GGUF side: a Q4_K split set with `gguf_tensors` tensors, header-only (sparse data).
    const std::string g_dir = dir + "/deepseek-v3-gguf";
    fs::create_directories(g_dir);
    const ggml::TypeTraits& q4k = *ggml::find_type(ggml::type::Q4_K);
    const uint64_t tensor_bytes = rows * (cols / q4k.block_elems * q4k.block_bytes);
    const int per_shard = (gguf_tensors + gguf_shards - 1) / gguf_shards;
    for (int s = 0; s < gguf_shards; ++s) {
        std::vector<gguf::KeyValue> kv{gguf::make_u32("general.file_type", 15), gguf::make_u32("general.quantization_version", 2),
                                       gguf::make_u16("split.no", static_cast<uint16_t>(s)),
                                       gguf::make_u16("split.count", static_cast<uint16_t>(gguf_shards)),
                                       gguf::make_i32("split.tensors.count", gguf_tensors)};
        std::vector<gguf::TensorInfo> infos;
        for (int i = s * per_shard; i < std::min(gguf_tensors, (s + 1) * per_shard); ++i) {
            gguf::TensorInfo ti;
            ti.name = "blk." + std::to_string(i / 3) + ".ffn_" + (i % 3 == 0 ? "gate" : i % 3 == 1 ? "up" : "down") + "_exps.weight";
            ti.n_dims = 2;
            ti.ne[0] = static_cast<int64_t>(cols);
            ti.ne[1] = static_cast<int64_t>(rows);
            ti.type = ggml::type::Q4_K;
            ti.nbytes = tensor_bytes;
            ti.offset = infos.size() * gguf::pad(tensor_bytes, 32);
            infos.push_back(ti);
        }
        char name[96];
        std::snprintf(name, sizeof name, "/DeepSeek-V3-Q4_K-%05d-of-%05d.gguf", s + 1, gguf_shards);
        auto meta = gguf::write_metadata(3, kv, infos, 32, true);
        const std::string path = g_dir + name;
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        uint64_t total = meta.size() + infos.size() * gguf::pad(tensor_bytes, 32);
        if (fd < 0 || write(fd, meta.data(), meta.size()) != static_cast<ssize_t>(meta.size()) ||
            ftruncate(fd, static_cast<off_t>(total)) != 0)
            throw std::runtime_error("writing " + path);
        close(fd);
        written += infos.size();
    }
    return written;
}

}  // namespace bench

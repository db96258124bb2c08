// Synthetic sources for the benchmark, of every kind the views read: raw files, GGUFs of a
// quant type, gguf-split sets, DeepSeek-style FP8 checkpoints, sharded BF16 checkpoints, and a
// sparse catalog shaped like DeepSeek-V3 for the scale test. Random bytes: the transforms move
// and convert bits, they do not depend on them being a trained model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

void fill_random(uint8_t* p, size_t n, uint64_t seed);
void write_random_file(const std::string& path, uint64_t size, uint64_t seed);
// One GGUF of `size` bytes of 4096-wide tensors of `type`, with general.file_type set.
void write_gguf(const std::string& path, int32_t type, uint64_t size);
// A gguf-split set `prefix-0000k-of-0000n.gguf` of Q8_0 tensors, `size` bytes in all.
void write_split_set(const std::string& dir, const std::string& prefix, uint64_t size, int shards);
// A DeepSeek-style FP8 checkpoint (4096² F8_E4M3 weights, 128×128 F32 block scales, an index and
// a config) of `size` bytes of FP8; returns its shard names.
std::vector<std::string> write_fp8_checkpoint(const std::string& dir, uint64_t size);
// Its shard names, without writing it.
std::vector<std::string> fp8_checkpoint_files(uint64_t size);
// A sharded BF16 checkpoint of 8 layers in `size` bytes; returns the shard holding layer 3.
std::string write_st_checkpoint(const std::string& dir, uint64_t size);
// The name of that shard.
std::string st_layer_shard();

// DeepSeek-V3's shape at scale, as sparse files (apparent sizes, no data): an FP8 checkpoint of
// `shards` safetensors shards with `tensors_per_shard` tensors each (weights and their block
// scales, MoE experts by layer) with index and config, and a `gguf_shards`-shard gguf-split set
// with `gguf_tensors` tensors. Returns the number of tensors written.
uint64_t write_scale_catalog(const std::string& dir, int shards, int tensors_per_shard, int gguf_shards, int gguf_tensors);

}  // namespace bench

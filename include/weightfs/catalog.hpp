// Catalog: what SOURCE holds, found by one recursive scan — single GGUF files (headers parsed),
// gguf-split sets, raw part sets, and plain files — plus every file that could not be used,
// with the offset and reason. Symlinks are followed only when they resolve inside SOURCE, so a
// Hugging Face cache directory works as SOURCE while nothing outside it is ever exposed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "weightfs/result.hpp"
#include "weightfs/source_file.hpp"

namespace wfs {

namespace hf {
struct Index;
}

namespace gguf { struct Header; }
namespace st { struct Header; }

struct GgufFile {
    std::string rel;
    SourceFilePtr file;
    std::shared_ptr<const gguf::Header> header;
};

struct SplitSet {
    std::string rel_dir;  // "" for SOURCE itself
    std::string prefix;   // merged name is prefix + ".gguf"
    std::vector<GgufFile> shards;  // in shard order
};

struct PartSet {
    std::string rel_dir;
    std::string name;  // joined file name
    std::vector<SourceFilePtr> parts;  // in join order
};

struct PlainFile {
    std::string rel;
    SourceFilePtr file;
};

struct SafetensorsFile {
    std::string name;  // file name inside the model directory
    SourceFilePtr file;
    std::shared_ptr<const st::Header> header;
};

// A Hugging Face checkpoint: a directory holding *.safetensors (sharded with an index, or one file).
struct HfModel {
    std::string rel_dir;
    std::vector<SafetensorsFile> shards;  // every *.safetensors in the directory, sorted by name
    SourceFilePtr index;                  // model.safetensors.index.json, if present
    std::shared_ptr<const hf::Index> weight_map;  // the index, parsed and checked once by the catalog
    SourceFilePtr config;                 // config.json, if present
    std::vector<PlainFile> files;         // every file of the directory (shards and metadata included)
    bool usable = true;                   // false when a shard's header failed to parse (listed)
};

struct Problem {
    std::string where;   // "catalog" or the view's name
    std::string file;    // path relative to SOURCE
    uint64_t offset = 0;
    std::string reason;
};

struct Catalog {
    std::string root;  // absolute, resolved
    std::vector<std::string> dirs;  // every directory scanned, relative ("" = root)
    std::vector<PlainFile> plain;
    std::vector<GgufFile> ggufs;
    std::vector<SplitSet> splits;
    std::vector<PartSet> parts;
    std::vector<HfModel> hf_models;
    std::vector<Problem> problems;

    // Scans `root` (an existing directory). Fails only when root itself is unusable.
    static Result<Catalog> scan(const std::string& root);
    // Drops the parsed headers and indexes once the views are built (they copy what they
    // serve): a DeepSeek-sized catalog holds ~60 MiB of them.
    void release_headers();
};

std::string join_rel(const std::string& dir, const std::string& name);

}  // namespace wfs

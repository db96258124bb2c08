// View: one top-level folder of the mount (concat/, r4/, …). A view reads the Catalog and adds
// virtual files to the tree under its own name; what it shows and what it refuses go to the
// report behind .weightfs/models. Adding a view = one file in src/views/ + one registry line.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weightfs/catalog.hpp"
#include "weightfs/virtual_tree.hpp"

namespace wfs {

enum class MergeOrder { Mainline, Ik };
enum class RepackBf16 { Auto, On, Off };

struct ViewOptions {
    MergeOrder merge_order = MergeOrder::Mainline;
    std::string repack_pattern;                  // r4/: ik's --repack-pattern (ECMAScript regex, searched)
    RepackBf16 repack_bf16 = RepackBf16::Auto;   // r4/: BF16/F16 → BF16_R16 (auto: if the CPU has AVX512-BF16)
};

struct Shown {
    std::string path;  // in the mount, e.g. "concat/dir/model.gguf"
    std::string what;  // "split set of 5 shards", "part set of 3", "file"
    uint64_t size = 0;
};

struct ViewReport {
    std::vector<Shown> shown;
    std::vector<Problem> problems;
};

struct Bf16Model;

struct ViewContext {
    const Catalog& catalog;
    const ViewOptions& options;
    VirtualTree& tree;
    ViewReport& report;
    // The BF16 form of each checkpoint, computed once and shared by bf16/, layers/ and llama2c/.
    std::map<const HfModel*, std::shared_ptr<const Result<Bf16Model>>> bf16_models;
};

class View {
public:
    virtual ~View() = default;
    virtual std::string name() const = 0;
    virtual void build(ViewContext& ctx) const = 0;
};

// Adds `files` (mount paths) to the tree and the report; a name already taken is listed.
void publish(ViewContext& ctx, const std::string& view, std::vector<std::pair<std::string, VirtualFilePtr>> files,
             const std::string& what);

// The registry: every view, in the order they appear at the mount root.
std::vector<std::unique_ptr<View>> make_views();

// Builds the whole tree: each view's folder plus the .weightfs/ control files.
VirtualTree build_tree(const Catalog& catalog, const ViewOptions& options, ViewReport& report);

// A name as the line-oriented control files show it: backslash, newline and tab escaped as
// `ls -b` does, so one record stays one line.
std::string escape_name(const std::string& text);

// The text of .weightfs/models: what each view shows, and every problem with file, offset, reason.
std::string render_models(const Catalog& catalog, const ViewReport& report);

}  // namespace wfs

// concat/: SOURCE mirrored, with each gguf-split set shown as one merged GGUF (byte-identical to
// `llama-gguf-split --merge`) and each raw part set joined as `cat` would join it.
#include "views/concat.hpp"

#include "formats/gguf.hpp"
#include "formats/gguf_merge.hpp"

namespace wfs {

namespace {

VirtualFilePtr as_is(const SourceFilePtr& f) {
    ExtentListBuilder b;
    b.add_copy(f, 0, f->size());
    return std::make_shared<VirtualFile>("concat", b.take(), f->size(), std::vector<std::string>{f->rel()},
                                         f->mode() & 0555, f->mtime_sec());
}

}  // namespace

Result<VirtualFilePtr> merged_split_file(const SplitSet& set, MergeOrder order, const std::string& view) {
    std::vector<const gguf::Header*> headers;
    std::vector<std::string> names, sources;
    for (const auto& s : set.shards) {
        headers.push_back(s.header.get());
        names.push_back(s.rel);
        sources.push_back(s.rel);
    }
    auto merged = gguf::merge_split(headers, names,
                                    order == MergeOrder::Ik ? gguf::MergeOrder::Ik : gguf::MergeOrder::Mainline);
    if (!merged) return merged.error();
    ExtentListBuilder b;
    b.add_bytes(std::move(merged->metadata));
    for (const auto& span : merged->spans) {
        b.add_copy(set.shards[span.shard].file, span.src_offset, span.nbytes);
        b.add_zeros(span.padded - span.nbytes);
    }
    uint64_t size = b.size();
    const auto& first = set.shards.front().file;
    return VirtualFilePtr(std::make_shared<VirtualFile>(view, b.take(), size, std::move(sources), 0444, first->mtime_sec()));
}

void ConcatView::build(ViewContext& ctx) const {
    const std::string root = name();
    ctx.tree.ensure_dir(root, root);
    for (const auto& dir : ctx.catalog.dirs) ctx.tree.ensure_dir(join_rel(root, dir), root);

    auto publish = [&](const std::string& rel, VirtualFilePtr file, std::string what) {
        std::string path = join_rel(root, rel);
        uint64_t size = file->size();
        if (ctx.tree.add_file(path, std::move(file), root) == 0) {
            ctx.report.problems.push_back({root, rel, 0, "name collides with another entry in " + root + "/"});
            return;
        }
        ctx.report.shown.push_back({path, std::move(what), size});
    };

    for (const auto& f : ctx.catalog.plain) publish(f.rel, as_is(f.file), "file");
    for (const auto& g : ctx.catalog.ggufs) publish(g.rel, as_is(g.file), "GGUF");
    for (const auto& set : ctx.catalog.splits) {
        std::string rel = join_rel(set.rel_dir, set.prefix + ".gguf");
        auto file = merged_split_file(set, ctx.options.merge_order, root);
        if (!file) {
            ctx.report.problems.push_back({root, rel, file.error().offset, file.error().message});
            continue;
        }
        publish(rel, std::move(file).value(), "GGUF merged from " + std::to_string(set.shards.size()) + " shards");
    }
    for (const auto& ps : ctx.catalog.parts) {
        ExtentListBuilder b;
        std::vector<std::string> sources;
        for (const auto& p : ps.parts) {
            b.add_copy(p, 0, p->size());
            sources.push_back(p->rel());
        }
        uint64_t size = b.size();
        publish(join_rel(ps.rel_dir, ps.name),
                std::make_shared<VirtualFile>(root, b.take(), size, std::move(sources), 0444, ps.parts[0]->mtime_sec()),
                "joined from " + std::to_string(ps.parts.size()) + " parts");
    }
}

}  // namespace wfs

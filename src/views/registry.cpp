// The view registry and the assembly of the whole tree.
#include <sstream>

#include "views/bf16.hpp"
#include "views/concat.hpp"
#include "views/layers.hpp"
#include "views/llama2c.hpp"
#include "views/r4.hpp"
#include "weightfs/view.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

void publish(ViewContext& ctx, const std::string& view, std::vector<std::pair<std::string, VirtualFilePtr>> files,
             const std::string& what) {
    for (auto& [path, vf] : files) {
        uint64_t size = vf->size();
        if (ctx.tree.add_file(path, std::move(vf), view) != 0) ctx.report.shown.push_back({path, what, size});
        else ctx.report.problems.push_back({view, path, 0, "name collides with another entry in " + view + "/"});
    }
}

std::vector<std::unique_ptr<View>> make_views() {
    std::vector<std::unique_ptr<View>> v;
    v.push_back(std::make_unique<ConcatView>());
    v.push_back(std::make_unique<R4View>());
    v.push_back(std::make_unique<Bf16View>());
    v.push_back(std::make_unique<LayersView>());
    v.push_back(std::make_unique<Llama2cView>());
    return v;
}

VirtualTree build_tree(const Catalog& catalog, const ViewOptions& options, ViewReport& report) {
    // What several views share (the BF16 form of each checkpoint) is computed first; then the
    // views build side by side, each into its own tree and report, joined in registry order so
    // inode numbers and listings are what one view after another would give.
    std::map<const HfModel*, std::shared_ptr<const Result<Bf16Model>>> bf16_models;
    std::vector<const HfModel*> usable;
    for (const auto& m : catalog.hf_models)
        if (m.usable) usable.push_back(&m);
    std::vector<std::shared_ptr<const Result<Bf16Model>>> computed(usable.size());
    // An exception out of one model or view (memory, or a bug a hostile file found) costs that
    // model or view, with the reason listed, not the mount.
    parallel_for(usable.size(), [&](size_t i) {
        try {
            computed[i] = std::make_shared<const Result<Bf16Model>>(bf16_model(*usable[i]));
        } catch (const std::exception& e) {
            computed[i] = std::make_shared<const Result<Bf16Model>>(make_error(EIO, std::string("internal error: ") + e.what()));
        }
    });
    for (size_t i = 0; i < usable.size(); ++i) bf16_models[usable[i]] = computed[i];

    const auto views = make_views();
    std::vector<VirtualTree> trees(views.size());
    std::vector<ViewReport> reports(views.size());
    parallel_for(views.size(), [&](size_t i) {
        ViewContext ctx{catalog, options, trees[i], reports[i], bf16_models};
        try {
            views[i]->build(ctx);
        } catch (const std::exception& e) {
            trees[i] = VirtualTree{};
            reports[i] = ViewReport{};
            reports[i].problems.push_back({views[i]->name(), "", 0, std::string("internal error, view left empty: ") + e.what()});
        }
    });
    VirtualTree tree;
    for (size_t i = 0; i < views.size(); ++i) {
        tree.graft(trees[i]);
        for (auto& s : reports[i].shown) report.shown.push_back(std::move(s));
        for (auto& p : reports[i].problems) report.problems.push_back(std::move(p));
    }
    uint64_t control = tree.ensure_dir(".weightfs", "");
    tree.add(control, "status", NodeKind::Status, nullptr, "");
    tree.add(control, "models", NodeKind::Models, nullptr, "");
    return tree;
}

std::string escape_name(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else out += c;
    }
    return out;
}

std::string render_models(const Catalog& catalog, const ViewReport& report) {
    std::ostringstream out;
    out << "# weightfs models: SOURCE " << escape_name(catalog.root) << "\n";
    out << "# shown: " << report.shown.size() << "\n";
    for (const auto& s : report.shown) out << "shown\t" << escape_name(s.path) << "\t" << s.size << "\t" << escape_name(s.what) << "\n";
    size_t n = catalog.problems.size() + report.problems.size();
    out << "# skipped: " << n << " (file, offset, reason)\n";
    auto emit = [&](const Problem& p) {
        out << "skipped\t" << p.where << "\t" << escape_name(p.file) << "\t" << p.offset << "\t" << escape_name(p.reason) << "\n";
    };
    for (const auto& p : catalog.problems) emit(p);
    for (const auto& p : report.problems) emit(p);
    return out.str();
}

}  // namespace wfs

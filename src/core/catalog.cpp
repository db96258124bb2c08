#include "weightfs/catalog.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "formats/gguf.hpp"
#include "formats/hf.hpp"
#include "formats/safetensors.hpp"
#include "transforms/part_names.hpp"
#include "weightfs/beneath.hpp"
#include "weightfs/worker_pool.hpp"

namespace wfs {

std::string join_rel(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class Scanner {
public:
    explicit Scanner(Catalog& c) : cat_(c) {}

    // `rel`: the directory relative to SOURCE ("" for SOURCE itself).
    void scan_dir(const std::string& rel) {
        const std::string abs = rel.empty() ? cat_.root : cat_.root + "/" + rel;
        // Opened beneath SOURCE, like every file: a directory swapped for a link out of it after
        // its parent was listed is not listed (its names would show in .weightfs/models).
        auto fd = open_beneath(cat_.root, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!fd) {
            cat_.problems.push_back({"catalog", rel, 0, fd.error().message});
            return;
        }
        struct stat st {};
        DIR* d = fstat(*fd, &st) == 0 ? fdopendir(*fd) : nullptr;
        if (!d) {
            cat_.problems.push_back({"catalog", rel, 0, std::string("cannot read directory: ") + std::strerror(errno)});
            close(*fd);
            return;
        }
        if (!visited_.insert({st.st_dev, st.st_ino}).second) {
            cat_.problems.push_back({"catalog", rel, 0, "directory already scanned (symlink loop or duplicate link)"});
            closedir(d);
            return;
        }
        cat_.dirs.push_back(rel);
        std::vector<std::string> names;
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            // Dot entries are skipped: ".", "..", and hidden state such as HF's ".locks" or ".no_exist".
            if (!n.empty() && n[0] != '.') names.push_back(n);
        }
        std::sort(names.begin(), names.end());

        std::vector<std::string> files, subdirs;
        for (const auto& n : names) {
            std::string child_abs = abs + "/" + n, child_rel = join_rel(rel, n);
            struct stat ls {};
            if (fstatat(dirfd(d), n.c_str(), &ls, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (S_ISLNK(ls.st_mode)) {
                char resolved[PATH_MAX];
                if (!realpath(child_abs.c_str(), resolved)) {
                    cat_.problems.push_back({"catalog", child_rel, 0, "dangling symlink"});
                    continue;
                }
                std::string target = resolved;
                if (target != cat_.root && target.rfind(cat_.root + "/", 0) != 0) {
                    cat_.problems.push_back({"catalog", child_rel, 0, "symlink leaves SOURCE (to " + target + "); not followed"});
                    continue;
                }
                if (stat(child_abs.c_str(), &ls) != 0) continue;
            }
            if (S_ISDIR(ls.st_mode)) subdirs.push_back(n);
            else if (S_ISREG(ls.st_mode)) files.push_back(n);
        }
        closedir(d);
        classify(rel, files);
        for (const auto& n : subdirs) scan_dir(join_rel(rel, n));
    }

private:
    SourceFilePtr open_file(const std::string& rel) {
        auto f = SourceFile::open_beneath(cat_.root, rel);
        if (!f) {
            cat_.problems.push_back({"catalog", rel, 0, f.error().message});
            return nullptr;
        }
        return std::move(f).value();
    }

    // Opens and parses one GGUF; records the problem and returns false when it is unusable.
    bool open_gguf(const std::string& rel, GgufFile& out) {
        out.rel = rel;
        out.file = open_file(rel);
        if (!out.file) return false;
        auto h = gguf::read_header(FileByteReader(*out.file));
        if (!h) {
            cat_.problems.push_back({"catalog", rel, h.error().offset, h.error().message});
            return false;
        }
        out.header = std::make_shared<const gguf::Header>(std::move(h).value());
        return true;
    }

    void classify(const std::string& rel, const std::vector<std::string>& files) {
        std::set<std::string> taken;
        // gguf-split sets, grouped by (prefix, count).
        std::map<std::pair<std::string, uint32_t>, std::map<uint32_t, std::string>> sets;
        for (const auto& f : files)
            if (auto s = parse_split_name(f)) {
                sets[{s->prefix, s->count}][s->index] = f;
                taken.insert(f);
            }
        for (auto& [key, members] : sets) {
            const auto& [prefix, count] = key;
            if (members.size() != count) {
                for (uint32_t i = 1; i <= count; ++i)
                    if (!members.count(i)) {
                        for (auto& m : members)
                            cat_.problems.push_back({"catalog", join_rel(rel, m.second), 0,
                                                     "split set '" + prefix + "' is incomplete: shard " +
                                                         split_name(prefix, i, count) + " is missing"});
                        break;
                    }
                continue;
            }
            SplitSet set{rel, prefix, {}};
            bool ok = true;
            for (auto& [index, name] : members) {
                GgufFile g;
                if (!open_gguf(join_rel(rel, name), g)) ok = false;
                set.shards.push_back(std::move(g));
            }
            if (ok) cat_.splits.push_back(std::move(set));
            else
                cat_.problems.push_back({"catalog", join_rel(rel, prefix), 0,
                                         "split set '" + prefix + "' left out: a shard failed to parse"});
        }

        // Raw part sets among the rest.
        std::vector<std::string> rest;
        for (const auto& f : files)
            if (!taken.count(f)) rest.push_back(f);
        std::map<std::string, std::string> part_problems;
        for (auto& plan : plan_part_sets(rest, part_problems)) {
            if (std::binary_search(files.begin(), files.end(), plan.base)) {
                for (auto& m : plan.members)
                    part_problems[m] = "part set '" + plan.base + "' collides with an existing file of that name";
                continue;
            }
            PartSet ps{rel, plan.base, {}};
            bool ok = true;
            for (auto& m : plan.members) {
                taken.insert(m);
                auto f = open_file(join_rel(rel, m));
                if (!f) ok = false;
                ps.parts.push_back(std::move(f));
            }
            if (ok) cat_.parts.push_back(std::move(ps));
        }
        for (auto& [f, reason] : part_problems) {
            taken.insert(f);
            cat_.problems.push_back({"catalog", join_rel(rel, f), 0, reason});
        }

        // Single files: GGUFs are parsed, everything else is plain.
        const size_t first_plain = cat_.plain.size();
        for (const auto& f : files) {
            if (taken.count(f)) continue;
            std::string child_rel = join_rel(rel, f);
            if (ends_with(f, ".gguf")) {
                GgufFile g;
                if (open_gguf(child_rel, g)) cat_.ggufs.push_back(std::move(g));
                continue;
            }
            if (auto file = open_file(child_rel)) cat_.plain.push_back({child_rel, std::move(file)});
        }
        collect_hf_model(rel, first_plain);
    }

    // A directory with *.safetensors is a Hugging Face checkpoint; its headers are parsed here.
    void collect_hf_model(const std::string& rel, size_t first_plain) {
        HfModel m;
        m.rel_dir = rel;
        std::vector<std::pair<std::string, const PlainFile*>> shard_files;
        for (size_t i = first_plain; i < cat_.plain.size(); ++i) {
            const PlainFile& p = cat_.plain[i];
            std::string name = p.rel.substr(rel.empty() ? 0 : rel.size() + 1);
            m.files.push_back(p);
            if (name == "model.safetensors.index.json") m.index = p.file;
            if (name == "config.json") m.config = p.file;
            if (ends_with(name, ".safetensors")) shard_files.push_back({name, &p});
        }
        // A DeepSeek-sized checkpoint has 163 shard headers of ~1,000 tensors and a 160k-entry
        // index: all parsed side by side on every core (the index is item 0).
        std::vector<std::optional<Result<st::Header>>> headers(shard_files.size());
        std::optional<Result<hf::Index>> index;
        const size_t first = m.index ? 1 : 0;
        parallel_for(first + shard_files.size(), [&](size_t i) {
            if (i < first) index = hf::read_index(FileByteReader(*m.index));
            else headers[i - first] = st::read_header(FileByteReader(*shard_files[i - first].second->file));
        });
        for (size_t i = 0; i < shard_files.size(); ++i) {
            auto& [name, p] = shard_files[i];
            auto& h = *headers[i];
            if (!h) {
                cat_.problems.push_back({"catalog", p->rel, h.error().offset, h.error().message});
                m.usable = false;
                continue;
            }
            m.shards.push_back({name, p->file, std::make_shared<const st::Header>(std::move(h).value())});
        }
        if (m.usable && index) check_index(m, std::move(*index));
        if (!m.shards.empty() || !m.usable) cat_.hf_models.push_back(std::move(m));
    }

    // The index is what loaders follow: every entry must name a shard of this directory that
    // holds the tensor. A lying index (a missing shard, a path out of the directory, a tensor
    // that is not there) makes the checkpoint unusable, as it would be for transformers.
    void check_index(HfModel& m, Result<hf::Index> idx) {
        auto refuse = [&](uint64_t offset, const std::string& why) {
            cat_.problems.push_back({"catalog", join_rel(m.rel_dir, "model.safetensors.index.json"), offset, why});
            m.usable = false;
        };
        if (!idx) return refuse(idx.error().offset, idx.error().message);
        m.weight_map = std::make_shared<const hf::Index>(std::move(idx).value());
        const hf::Index& index = *m.weight_map;
        // Each shard's tensors confirm the entries that name that shard; an entry left
        // unconfirmed is a lie. (One pass over the tensors through the index's own hash: a
        // DeepSeek-sized index has 160k entries.)
        std::unordered_map<std::string_view, uint32_t> file_id;
        for (uint32_t i = 0; i < index.files.size(); ++i) file_id.emplace(index.files[i], i);
        std::vector<bool> confirmed(index.entries.size());
        size_t n_confirmed = 0;
        for (const auto& s : m.shards) {
            auto id = file_id.find(s.name);
            if (id == file_id.end()) continue;  // a shard the index does not use
            for (const auto& t : s.header->tensors) {
                auto at = index.position.find(t.name);
                if (at == index.position.end() || index.entries[at->second].file != id->second || confirmed[at->second]) continue;
                confirmed[at->second] = true;
                ++n_confirmed;
            }
        }
        if (n_confirmed == index.entries.size()) return;
        std::unordered_set<std::string_view> shards;
        for (const auto& s : m.shards) shards.insert(s.name);
        for (size_t i = 0; i < index.entries.size(); ++i) {
            if (confirmed[i]) continue;
            const std::string tensor(index.entries[i].tensor);
            const std::string& file = index.file(index.entries[i]);
            if (!shards.count(file))
                return refuse(0, m.index->rel() + ": weight_map['" + tensor + "'] names '" + file +
                                     "', which is not a safetensors file of this directory");
            return refuse(0, m.index->rel() + ": weight_map['" + tensor + "'] says " + file +
                                 ", but that file has no such tensor");
        }
    }

    Catalog& cat_;
    std::set<std::pair<dev_t, ino_t>> visited_;
};

}  // namespace

void Catalog::release_headers() {
    for (auto& g : ggufs) g.header.reset();
    for (auto& set : splits)
        for (auto& g : set.shards) g.header.reset();
    for (auto& m : hf_models) {
        m.weight_map.reset();
        for (auto& s : m.shards) s.header.reset();
    }
}

Result<Catalog> Catalog::scan(const std::string& root) {
    char resolved[PATH_MAX];
    if (!realpath(root.c_str(), resolved)) return make_error(errno, root + ": " + std::strerror(errno));
    struct stat st {};
    if (stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) return make_error(ENOTDIR, root + ": not a directory");
    Catalog c;
    c.root = resolved;
    Scanner(c).scan_dir("");
    return c;
}

}  // namespace wfs

#include "fs/options.hpp"

#include <numa.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "transforms/part_names.hpp"

namespace wfs {

namespace {

// Kernel and libfuse options that weightfs passes through unchanged.
const std::set<std::string> kPassFlags = {"allow_other", "allow_root", "default_permissions", "dev", "nodev", "suid",
                                          "nosuid", "exec", "noexec", "sync", "async", "dirsync", "atime", "noatime",
                                          "auto_unmount", "ro"};
const std::set<std::string> kPassValues = {"max_read", "fsname", "subtype", "blksize", "max_idle_threads"};
// Options that mount(8), mount.fuse3 or systemd hand along from fstab: accepted and dropped.
const std::set<std::string> kDropped = {"defaults", "nofail", "_netdev", "noauto", "auto", "user", "users", "nouser",
                                        "owner", "group", "rw", "relatime", "norelatime", "strictatime",
                                        "nostrictatime", "lazytime", "nolazytime", "diratime", "nodiratime",
                                        "nosymfollow", "symfollow", "nouser_xattr", "user_xattr"};

Result<unsigned> parse_count(const std::string& key, const std::string& v, unsigned max) {
    if (v.size() > 6 || !all_digits(v))
        return make_error(EINVAL, key + "=" + v + ": expected a whole number");
    unsigned n = static_cast<unsigned>(std::stoul(v));
    if (n > max) return make_error(EINVAL, key + "=" + v + ": at most " + std::to_string(max));
    return n;
}

Status apply_option(Options& o, const std::string& opt) {
    auto eq = opt.find('=');
    std::string key = opt.substr(0, eq), val = eq == std::string::npos ? "" : opt.substr(eq + 1);
    bool has_val = eq != std::string::npos;
    auto& e = o.engine;
    auto need = [&]() -> Status {
        if (!has_val || val.empty()) return make_error(EINVAL, "option '" + key + "' needs a value (" + key + "=...)");
        return {};
    };
    if (key.empty()) return {};
    if (kDropped.count(key) || key.rfind("x-", 0) == 0 || key.rfind("X-", 0) == 0 || key == "comment") return {};
    if (!has_val && kPassFlags.count(key)) {
        if (key != "ro") o.mount_opts.push_back(key);
        return {};
    }
    if (has_val && kPassValues.count(key)) {
        o.mount_opts.push_back(opt);
        return {};
    }
    if (key == "cache" || key == "chunk") {
        WFS_TRY(need());
        auto size = parse_size(val);
        if (!size) return make_error(EINVAL, key + "=" + val + ": " + size.error().message);
        if (key == "cache") e.arena.bytes = *size;
        else {
            if (*size < 65536 || (*size & (*size - 1)) != 0 || *size > (1ull << 30))
                return make_error(EINVAL, "chunk=" + val + ": must be a power of two between 64K and 1G");
            e.chunk_size = *size;
        }
        return {};
    }
    if (key == "hugepages") {
        if (val == "auto") e.arena.hugepages = HugepageMode::Auto;
        else if (val == "require") e.arena.hugepages = HugepageMode::Require;
        else if (val == "off") e.arena.hugepages = HugepageMode::Off;
        else return make_error(EINVAL, "hugepages=" + val + ": expected auto, require or off");
        return {};
    }
    if (key == "hugepage_size") {
        if (val == "2M" || val == "2m") e.arena.hugepage_size = 2ull << 20;
        else if (val == "1G" || val == "1g") e.arena.hugepage_size = 1ull << 30;
        else return make_error(EINVAL, "hugepage_size=" + val + ": expected 2M or 1G");
        return {};
    }
    if (key == "reserve_hugepages") {
        auto n = parse_count(key, val, 1u << 20);
        if (!n) return n.error();
        e.arena.reserve_hugepages = *n;
        return {};
    }
    if (key == "numa") {
        if (val == "interleave") e.arena.numa.kind = NumaPolicy::Interleave;
        else if (val == "local") e.arena.numa.kind = NumaPolicy::Local;
        else {
            auto n = parse_count(key, val, 4095);
            if (!n) return make_error(EINVAL, "numa=" + val + ": expected interleave, local or a node number");
            if (numa_available() >= 0 && static_cast<int>(*n) > numa_max_node())
                return make_error(EINVAL, "numa=" + val + ": no such node (this machine has " +
                                              std::to_string(numa_max_node() + 1) + ")");
            e.arena.numa = {NumaPolicy::Node, static_cast<int>(*n)};
        }
        return {};
    }
    if (key == "threads" || key == "prefetch") {
        auto n = parse_count(key, val, key == "threads" ? 256 : 4096);
        if (!n) return n.error();
        (key == "threads" ? e.threads : e.prefetch) = *n;
        return {};
    }
    if (key == "hugetlb_dir") {
        WFS_TRY(need());
        if (val[0] != '/') return make_error(EINVAL, "hugetlb_dir=" + val + ": must be an absolute path");
        e.hugetlb_dir = val;
        return {};
    }
    if (key == "preload") {
        WFS_TRY(need());
        e.preload = val;
        return {};
    }
    if (key == "merge_order") {
        if (val == "mainline") e.views.merge_order = MergeOrder::Mainline;
        else if (val == "ik") e.views.merge_order = MergeOrder::Ik;
        else return make_error(EINVAL, "merge_order=" + val + ": expected mainline or ik");
        return {};
    }
    if (key == "repack") {
        WFS_TRY(need());
        try {
            std::regex check(val, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            return make_error(EINVAL, "repack=" + val + ": not a valid regular expression (" + e.what() + ")");
        }
        e.views.repack_pattern = val;
        return {};
    }
    if (key == "repack_bf16") {
        if (val == "auto") e.views.repack_bf16 = RepackBf16::Auto;
        else if (val == "on") e.views.repack_bf16 = RepackBf16::On;
        else if (val == "off") e.views.repack_bf16 = RepackBf16::Off;
        else return make_error(EINVAL, "repack_bf16=" + val + ": expected auto, on or off");
        return {};
    }
    if (key == "serve") {
        if (val == "lazy") e.serve = Serve::Lazy;
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
        else if (val == "auto") e.serve = Serve::Auto;
        else if (val == "passthrough") e.serve = Serve::Passthrough;
#else
        else if (val == "auto") e.serve = Serve::Lazy;  // passthrough is not compiled in: auto means lazy
        else if (val == "passthrough")
            return make_error(EINVAL, "serve=passthrough: this weightfs was built against libfuse older than 3.17.1, "
                                      "which has no FUSE passthrough");
#endif
        else if (val == "hugetlb") e.serve = Serve::Hugetlb;
        else return make_error(EINVAL, "serve=" + val + ": expected auto, lazy, passthrough or hugetlb");
        return {};
    }
    if (key == "verbatim") {
        if (val == "auto") e.verbatim = Verbatim::Auto;
        else if (val == "mapped") e.verbatim = Verbatim::Mapped;
        else if (val == "cached") e.verbatim = Verbatim::Cached;
        else return make_error(EINVAL, "verbatim=" + val + ": expected auto, mapped or cached");
        return {};
    }
    if (key == "direct_io" && !has_val) {
        o.direct_io = true;
        return {};
    }
    if (key == "debug" && !has_val) {
        o.debug = o.foreground = true;
        return {};
    }
    return make_error(EINVAL, "unknown option '" + opt + "' (see weightfs --help)");
}

Status apply_list(Options& o, const std::string& list) {
    // Comma-separated; "\," escapes a comma inside a value (as fuse_opt does).
    std::string cur;
    for (size_t i = 0; i < list.size(); ++i) {
        if (list[i] == '\\' && i + 1 < list.size()) {
            cur += list[++i];
        } else if (list[i] == ',') {
            WFS_TRY(apply_option(o, cur));
            cur.clear();
        } else {
            cur += list[i];
        }
    }
    return apply_option(o, cur);
}

}  // namespace

Result<Options> parse_options(int argc, char** argv) {
    Options o;
    o.engine.arena.bytes = 2ull << 30;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") o.help = true;
        else if (a == "-V" || a == "--version") o.version = true;
        else if (a == "-f") o.foreground = true;
        else if (a == "-d") o.debug = o.foreground = true;
        else if (a == "-s") o.single_thread = true;
        else if (a == "-o") {
            if (i + 1 >= argc) return make_error(EINVAL, "-o needs an option list");
            WFS_TRY(apply_list(o, argv[++i]));
        } else if (a.rfind("-o", 0) == 0) {
            WFS_TRY(apply_list(o, a.substr(2)));
        } else if (!a.empty() && a[0] == '-') {
            return make_error(EINVAL, "unknown flag '" + a + "' (see weightfs --help)");
        } else {
            positional.push_back(a);
        }
    }
    if (o.help || o.version) return o;
    if (positional.size() != 2)
        return make_error(EINVAL, positional.size() < 2 ? "missing SOURCE or MOUNTPOINT (usage: weightfs SOURCE MOUNTPOINT [-o options])"
                                                        : "too many arguments: '" + positional[2] + "'");
    o.source = positional[0];
    o.mountpoint = positional[1];
    o.engine.source = o.source;
    return o;
}

std::string usage_text() {
    return R"(usage: weightfs SOURCE MOUNTPOINT [-o OPTION[,OPTION...]] [-f] [-d] [-s]
       weightfs status MOUNTPOINT     cache, pages, NUMA, hit rate, fill rate, preload, open files
       weightfs models MOUNTPOINT     what each view shows, and what was skipped and why

Serves the models under SOURCE through read-only views at MOUNTPOINT:
  concat/   split GGUF sets merged (= llama-gguf-split --merge), part sets joined, files as-is
  r4/       GGUFs repacked to ik_llama.cpp's row-interleaved types (= llama-quantize --repack)
  bf16/     FP8 / MXFP4 checkpoints as BF16 (= DeepSeek's fp8_cast_bf16.py)
  layers/   checkpoints sliced per layer (AirLLM's splitted_model/; GGUF: one layer per shard)
  llama2c/  Llama checkpoints as llama2.c version-2 (Q8_0) files (= export.py --version 2 --hf)
  .weightfs/status, .weightfs/models   live cache figures; what is shown and what was skipped

  -f                 stay in the foreground (log to stderr)
  -d                 debug: foreground and libfuse request tracing
  -s                 single-threaded FUSE loop
  -h, --help         this text
  -V, --version      the version

weightfs options (-o):
  cache=SIZE             chunk cache budget (default 2G); K, M, G, T suffixes
  chunk=SIZE             chunk size, power of two (default 2M)
  hugepages=auto|require|off   cache pages: explicit hugetlb, else THP (auto), or plain (off)
  hugepage_size=2M|1G    explicit hugepage size (default 2M)
  reserve_hugepages=N    raise nr_hugepages by N at mount, lower it by N at exit (root)
  numa=interleave|local|N      NUMA policy of the cache (default interleave)
  threads=N              worker threads for prefetch, preload and materializing (default: cores)
  prefetch=N             chunks read ahead of a sequential reader (default 8)
  preload=GLOB           warm matching files at mount, e.g. preload=r4/*.gguf (materialized
                         at mount with serve=auto|passthrough|hugetlb)
  merge_order=mainline|ik      KV order of merged split sets (default mainline)
  repack=REGEX           r4/: repack only tensors whose name matches (ik's --repack-pattern), e.g. repack=exps
  repack_bf16=auto|on|off      r4/: BF16/F16 -> BF16_R16 (auto: when the CPU has AVX512-BF16, as ik builds)
  serve=lazy|auto|passthrough|hugetlb  lazy (default): from the chunk cache; passthrough (libfuse >= 3.17.1, root):
                         each file is materialized at open into a private huge-page tmpfs (within cache=)
                         and the kernel serves reads and mmaps from it (an unchanged source file that
                         does not fit: passed through to the source itself); auto: passthrough when it can;
                         hugetlb (root): files that fit cache= are symlinks to files materialized on first
                         use in a hugetlbfs the daemon mounts (true 2M/1G pages for mmap, any libfuse);
                         give it pages with reserve_hugepages=N
  hugetlb_dir=DIR        where serve=hugetlb mounts its hugetlbfs: DIR/hugetlb.<pid> (default /run/weightfs)
  direct_io              bypass the kernel page cache (read() consumers; no mmap)
  verbatim=auto|mapped|cached  bytes a view copies unchanged (concat/, layers/, untouched tensors):
                         mapped sends them from the source's own pages, cached through the chunk
                         cache; auto (default): mapped, or cached with direct_io
  allow_other, default_permissions, max_read=N, fsname=, subtype=, noatime, ...   passed to FUSE
  defaults, nofail, _netdev, noauto, user, relatime, x-*, comment=...   fstab options, ignored

fstab:  /models /mnt/w fuse.weightfs ro,allow_other,nofail,x-systemd.automount,cache=8G 0 0
)";
}

}  // namespace wfs

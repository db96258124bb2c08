// weightfs-bench: how fast the views read compared with reading the same bytes from tmpfs,
// measured in one run on this machine. Generates sources in /dev/shm (a raw file and a
// gguf-split set of the same size), mounts weightfs over them, and prints cold and hot
// throughput as ratios to tmpfs read() and memcpy, time to first byte, and the daemon's
// memory outside the cache. Targets are printed as PASS/FAIL; this is a report, not a test.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"
#include "formats/safetensors.hpp"
#include "transforms/fp8.hpp"
#include "transforms/repack.hpp"
#include "weightfs/engine.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::string weightfs;
    uint64_t size = 1ull << 30;
    std::string json;
    int repeats = 3;
    std::string extra;  // extra -o options for every mount
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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

// The repack kernel's rate on one core (bytes per second), best of 3.
double repack_rate(int32_t type) {
    const wfs::repack::Entry& e = *wfs::repack::find(type, true);
    const wfs::ggml::TypeTraits& tt = *wfs::ggml::find_type(type);
    const size_t row_bytes = 4096 / tt.block_elems * tt.block_bytes, groups = (64u << 20) / (row_bytes * e.rows);
    std::vector<uint8_t> in(groups * row_bytes * e.rows), out(in.size());
    fill_random(in.data(), in.size(), 9);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        auto t0 = Clock::now();
        wfs::repack::repack_groups(e, in.data(), out.data(), row_bytes, groups);
        best = std::max(best, static_cast<double>(in.size()) / seconds_since(t0));
    }
    return best + (out[3] == 1 && out[5] == 2 ? 1 : 0);
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
std::vector<std::string> write_fp8_checkpoint(const std::string& dir, uint64_t size) {
    using namespace wfs;
    fs::create_directories(dir);
    const uint64_t n = 4096, weight = n * n, grid = (n / 128) * (n / 128);
    const int weights = static_cast<int>(std::max<uint64_t>(4, size / weight)), per_shard = 4;
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
        if (s == 1) layer3 = dir + "/" + name;
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

// The dequant kernel's output rate on one core (bytes of BF16 per second), best of 3.
double dequant_rate() {
    const size_t n = 64 << 20;
    std::vector<uint8_t> src(n);
    std::vector<uint16_t> dst(n);
    fill_random(src.data(), n, 5);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        auto t0 = Clock::now();
        for (size_t off = 0; off < n; off += 128) wfs::fp8::dequant_run_e4m3(src.data() + off, 128, 0.001f, dst.data() + off);
        best = std::max(best, static_cast<double>(n) * 2 / seconds_since(t0));
    }
    return best + (dst[7] == 12345 ? 1 : 0);
}

// Sequential read() with a reused 1 MiB buffer over files in order; returns bytes per second.
double read_rate(const std::vector<std::string>& files, size_t bs = 1 << 20, uint64_t* total = nullptr) {
    std::vector<uint8_t> buf(bs);
    uint64_t bytes = 0;
    auto t0 = Clock::now();
    for (auto& f : files) {
        int fd = open(f.c_str(), O_RDONLY);
        if (fd < 0) throw std::runtime_error("open " + f + ": " + std::strerror(errno));
        ssize_t n;
        while ((n = read(fd, buf.data(), bs)) > 0) bytes += static_cast<uint64_t>(n);
        if (n < 0) throw std::runtime_error("read " + f + ": " + std::strerror(errno));
        close(fd);
    }
    double s = seconds_since(t0);
    if (total) *total = bytes;
    return static_cast<double>(bytes) / s;
}

double memcpy_rate() {
    size_t n = 256 << 20;
    std::vector<uint8_t> a(n, 1), b(n, 2);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        auto t0 = Clock::now();
        std::memcpy(b.data(), a.data(), n);
        best = std::max(best, static_cast<double>(n) / seconds_since(t0));
    }
    return best + (b[n / 2] == 7 ? 1 : 0);
}

struct Daemon {
    pid_t pid = -1;
    std::string mnt;
};

bool is_mounted(const std::string& mnt) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mi, line))
        if (line.find(" " + mnt + " ") != std::string::npos && line.find("fuse.weightfs") != std::string::npos) return true;
    return false;
}

Daemon mount(const Args& a, const std::string& src, const std::string& mnt, const std::string& opts) {
    Daemon d{fork(), mnt};
    if (d.pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(a.weightfs.c_str(), "weightfs", src.c_str(), mnt.c_str(), "-f", "-o", opts.c_str(), nullptr);
        _exit(127);
    }
    for (int i = 0; i < 1000 && !is_mounted(mnt); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!is_mounted(mnt)) throw std::runtime_error("weightfs did not mount on " + mnt);
    return d;
}

void unmount(Daemon& d) {
    std::string cmd = "fusermount3 -u '" + d.mnt + "'";
    if (std::system(cmd.c_str()) != 0) kill(d.pid, SIGTERM);
    int st;
    waitpid(d.pid, &st, 0);
}

std::map<std::string, std::string> status_of(const std::string& mnt) {
    std::ifstream in(mnt + "/.weightfs/status");
    std::map<std::string, std::string> m;
    std::string line;
    while (std::getline(in, line)) {
        auto c = line.find(": ");
        if (c != std::string::npos) m.emplace(line.substr(0, c), line.substr(c + 2));
    }
    return m;
}

uint64_t rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string k;
    uint64_t v = 0;
    while (in >> k) {
        if (k == "VmRSS:") {
            in >> v;
            return v;
        }
        in.ignore(4096, '\n');
    }
    return 0;
}

struct Row {
    std::string view, source, mode;
    double tmpfs = 0, cold = 0, hot = 0, ttfb_ms = 0, rss_outside_mib = 0, hit_rate = 0;
    std::string page_kind;
};

double drop_and_time_first_byte(const std::string& path) {
    auto t0 = Clock::now();
    int fd = open(path.c_str(), O_RDONLY);
    char b[4096];
    (void)!read(fd, b, sizeof b);
    close(fd);
    return seconds_since(t0) * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--weightfs" && i + 1 < argc) a.weightfs = argv[++i];
        else if (s == "--size" && i + 1 < argc) a.size = wfs::parse_size(argv[++i]).value();
        else if (s == "--json" && i + 1 < argc) a.json = argv[++i];
        else if (s == "--repeats" && i + 1 < argc) a.repeats = std::max(1, std::atoi(argv[++i]));
        else if (s == "--options" && i + 1 < argc) a.extra = argv[++i];
        else {
            std::fprintf(stderr, "usage: weightfs-bench --weightfs PATH [--size 1G] [--repeats 3] [--options O,...] [--json FILE]\n");
            return 2;
        }
    }
    if (a.weightfs.empty()) {
        std::fprintf(stderr, "weightfs-bench: --weightfs PATH is required\n");
        return 2;
    }
    char tmpl[] = "/dev/shm/weightfs-bench-XXXXXX";
    std::string root = mkdtemp(tmpl);
    std::string src = root + "/src", mnt = root + "/mnt";
    fs::create_directories(src);
    fs::create_directories(mnt);
    std::vector<Row> rows;
    int rc = 0;
    try {
        std::printf("weightfs-bench: generating %s sources in %s ...\n", wfs::format_bytes(a.size).c_str(), root.c_str());
        write_random_file(src + "/raw.bin", a.size, 1);
        write_split_set(src, "model", a.size, 4);
        std::vector<std::string> shards;
        for (int k = 1; k <= 4; ++k) shards.push_back(src + "/model-0000" + std::to_string(k) + "-of-00004.gguf");

        auto fp8_files = write_fp8_checkpoint(src + "/fp8", a.size);
        std::string layer3_shard = write_st_checkpoint(src + "/st", a.size);
        fs::create_directories(src + "/quant");
        const std::pair<const char*, int32_t> quants[] = {{"Q4_K", wfs::ggml::type::Q4_K}, {"Q8_0", wfs::ggml::type::Q8_0},
                                                         {"IQ4_XS", wfs::ggml::type::IQ4_XS}};
        for (auto [name, type] : quants) write_gguf(src + "/quant/" + name + ".gguf", type, a.size);
        const double memcpy_bps = memcpy_rate();
        const double kernel_bps = dequant_rate();
        std::string repack_rates;
        for (auto [name, type] : quants) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%s%s %.2f GB/s (%.2fx)", repack_rates.empty() ? "" : ", ", name,
                          repack_rate(type) / 1e9, repack_rate(type) / memcpy_bps);
            repack_rates += buf;
        }
        struct Case { std::string view, source; std::vector<std::string> tmpfs_files, view_paths; };
        std::vector<Case> cases = {{"concat", "raw file", {src + "/raw.bin"}, {"concat/raw.bin"}},
                                   {"concat", "gguf-split set (4 shards)", shards, {"concat/model.gguf"}}};
        Case fp8{"bf16", "FP8 checkpoint (" + std::to_string(fp8_files.size()) + " shards)", {}, {}};
        for (auto& f : fp8_files) {
            fp8.tmpfs_files.push_back(src + "/fp8/" + f);
            fp8.view_paths.push_back("bf16/fp8/" + f);
        }
        cases.push_back(fp8);
        // One layer file (half of a shard) against reading that shard from tmpfs: rates compared.
        cases.push_back({"layers", "one layer of a BF16 model", {layer3_shard}, {"layers/st/3.safetensors"}});
        for (auto [name, type] : quants)
            cases.push_back({"r4", std::string("GGUF ") + name, {src + "/quant/" + name + ".gguf"}, {"r4/quant/" + std::string(name) + ".gguf"}});
        std::string cache = std::to_string((a.size * 3 + (256ull << 20)) >> 20) + "M";
        for (const std::string mode : {"page-cache", "direct_io"}) {
            std::string opts = "cache=" + cache + (mode == "direct_io" ? ",direct_io" : "") + (a.extra.empty() ? "" : "," + a.extra);
            for (auto& c : cases) {
                Row r{c.view, c.source, mode, 0, 0, 0, 0, 0, 0, ""};
                std::vector<std::string> view_files;
                for (auto& v : c.view_paths) view_files.push_back(mnt + "/" + v);
                // The VM's memory bandwidth drifts: the baseline is measured inside every repetition,
                // right next to the weightfs passes it is compared with (best of each).
                for (int i = 0; i < a.repeats; ++i) {
                    r.tmpfs = std::max(r.tmpfs, read_rate(c.tmpfs_files));
                    Daemon d = mount(a, src, mnt, opts);  // a fresh mount: empty cache, empty page cache
                    r.ttfb_ms = i == 0 ? drop_and_time_first_byte(view_files[0]) : r.ttfb_ms;
                    if (i == 0) {
                        unmount(d);
                        d = mount(a, src, mnt, opts);
                    }
                    uint64_t rss_before = rss_kib(d.pid);
                    r.cold = std::max(r.cold, read_rate(view_files));
                    r.hot = std::max(r.hot, read_rate(view_files));
                    r.tmpfs = std::max(r.tmpfs, read_rate(c.tmpfs_files));
                    auto st = status_of(mnt);
                    r.page_kind = st["page_kind"];
                    r.hit_rate = std::atof(st["hit_rate"].c_str());
                    uint64_t used = std::strtoull(st["cache_used"].c_str(), nullptr, 10);
                    double rss = static_cast<double>(rss_kib(d.pid)) * 1024;
                    bool hugetlb = r.page_kind.rfind("hugetlb", 0) == 0;  // hugetlb pages are not in VmRSS
                    r.rss_outside_mib = std::max(r.rss_outside_mib,
                                                 (hugetlb ? rss : std::max(0.0, rss - static_cast<double>(used))) / (1 << 20));
                    (void)rss_before;
                    unmount(d);
                }
                rows.push_back(r);
            }
        }

        std::printf("\nmemcpy (1 thread): %.2f GB/s    FP8->BF16 kernel (1 thread, %s): %.2f GB/s out = %.2fx memcpy\n"
                    "repack kernels (1 thread, scalar): %s\nsize per source: %s    best of %d\n\n", memcpy_bps / 1e9,
                    wfs::fp8::kernel_isa(), kernel_bps / 1e9, kernel_bps / memcpy_bps, repack_rates.c_str(),
                    wfs::format_bytes(a.size).c_str(), a.repeats);
        std::printf("%-7s %-26s %-10s %8s %8s %6s %8s %6s %6s %8s %8s %5s\n", "view", "source", "mode", "tmpfs", "cold",
                    "x", "hot", "x", "x cpy", "1st B", "RSS out", "pages");
        std::printf("%-7s %-26s %-10s %8s %8s %6s %8s %6s %6s %8s %8s %5s\n", "", "", "", "GB/s", "GB/s", "tmpfs",
                    "GB/s", "tmpfs", "", "ms", "MiB", "");
        bool pass = true;
        for (auto& r : rows) {
            std::printf("%-7s %-26s %-10s %8.2f %8.2f %6.2f %8.2f %6.2f %6.2f %8.2f %8.1f %s\n", r.view.c_str(),
                        r.source.c_str(), r.mode.c_str(), r.tmpfs / 1e9, r.cold / 1e9, r.cold / r.tmpfs, r.hot / 1e9,
                        r.hot / r.tmpfs, r.hot / memcpy_bps, r.ttfb_ms, r.rss_outside_mib, r.page_kind.c_str());
        }
        std::printf("\ntargets (page-cache mode, the default): cold >= 0.80x tmpfs (bf16/, r4/: 0.50x; bf16/ output bytes vs source "
                    "bytes), hot >= 0.90x tmpfs, first byte < 10 ms, daemon RSS outside the cache <= 64 MiB\n");
        for (auto& r : rows) {
            if (r.mode != "page-cache") continue;
            const double cold_target = r.view == "bf16" || r.view == "r4" ? 0.5 : 0.8;
            auto check = [&](const char* what, bool ok, double v) {
                std::printf("  %-4s %-26s %-12s %.2f\n", ok ? "PASS" : "FAIL", r.source.c_str(), what, v);
                pass = pass && ok;
            };
            check("cold ratio", r.cold / r.tmpfs >= cold_target, r.cold / r.tmpfs);
            check("hot ratio", r.hot / r.tmpfs >= 0.9, r.hot / r.tmpfs);
            check("first byte ms", r.ttfb_ms < 10, r.ttfb_ms);
            check("RSS out MiB", r.rss_outside_mib <= 64, r.rss_outside_mib);
        }
        std::printf("overall: %s\n", pass ? "all targets met" : "some targets missed (see FAIL lines)");
        if (!a.json.empty()) {
            std::ofstream j(a.json);
            j << "{\"memcpy_GBps\": " << memcpy_bps / 1e9 << ", \"fp8_kernel_GBps\": " << kernel_bps / 1e9
              << ", \"size\": " << a.size << ", \"rows\": [";
            for (size_t i = 0; i < rows.size(); ++i) {
                auto& r = rows[i];
                j << (i ? ", " : "") << "{\"view\": \"" << r.view << "\", \"source\": \"" << r.source << "\", \"mode\": \""
                  << r.mode << "\", \"tmpfs_GBps\": " << r.tmpfs / 1e9 << ", \"cold_GBps\": " << r.cold / 1e9
                  << ", \"hot_GBps\": " << r.hot / 1e9 << ", \"first_byte_ms\": " << r.ttfb_ms
                  << ", \"rss_outside_cache_MiB\": " << r.rss_outside_mib << ", \"page_kind\": \"" << r.page_kind
                  << "\", \"hit_rate\": " << r.hit_rate << "}";
            }
            j << "]}\n";
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "weightfs-bench: %s\n", e.what());
        rc = 1;
    }
    fs::remove_all(root);
    return rc;
}

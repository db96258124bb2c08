#include "probes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "formats/ggml_types.hpp"
#include "sources.hpp"
#include "transforms/fp8.hpp"
#include "transforms/repack.hpp"

namespace bench {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int open_or_throw(const std::string& f, int flags = O_RDONLY) {
    int fd = open(f.c_str(), flags);
    if (fd < 0) throw std::runtime_error("open " + f + ": " + std::strerror(errno));
    return fd;
}

uint64_t size_of(int fd) {
    struct stat st {};
    fstat(fd, &st);
    return static_cast<uint64_t>(st.st_size);
}
}  // namespace

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

double repack_rate(int32_t type) {
    const wfs::repack::Entry& e = *wfs::repack::find(type, true);
    const wfs::ggml::TypeTraits& tt = *wfs::ggml::find_type(type);
    const size_t row_bytes = e.row_meta + 4096 / tt.block_elems * tt.block_bytes, groups = (64u << 20) / (row_bytes * e.rows);
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

double dequant_rate() {
    const size_t n = 64 << 20;
    std::vector<uint8_t> src(n);
    std::vector<uint16_t> dst(n);
    fill_random(src.data(), n, 5);
    double best = 0;
    // As the bf16/ view calls it: one range of 128-element scale blocks per call.
    std::vector<wfs::fp8::Run> runs(n / 128, wfs::fp8::Run{128, 0.001f});
    for (int i = 0; i < 3; ++i) {
        auto t0 = Clock::now();
        wfs::fp8::dequant_runs_e4m3(src.data(), runs.data(), runs.size(), dst.data());
        best = std::max(best, static_cast<double>(n) * 2 / seconds_since(t0));
    }
    return best + (dst[7] == 12345 ? 1 : 0);
}

double read_rate(const std::vector<std::string>& files, size_t block) {
    std::vector<uint8_t> buf(block);
    uint64_t bytes = 0;
    auto t0 = Clock::now();
    for (auto& f : files) {
        int fd = open_or_throw(f);
        ssize_t n;
        while ((n = read(fd, buf.data(), block)) > 0) bytes += static_cast<uint64_t>(n);
        close(fd);
        if (n < 0) throw std::runtime_error("read " + f + ": " + std::strerror(errno));
    }
    return static_cast<double>(bytes) / seconds_since(t0);
}

double pread_rate(const std::vector<std::string>& files, unsigned threads) {
    uint64_t bytes = 0;
    auto t0 = Clock::now();
    for (auto& f : files) {
        int fd = open_or_throw(f);
        const uint64_t size = size_of(fd), part = (size + threads - 1) / threads;
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < threads; ++t)
            ts.emplace_back([&, t] {
                std::vector<uint8_t> buf(1 << 20);
                for (uint64_t off = t * part, end = std::min(size, (t + 1) * part); off < end;) {
                    ssize_t n = pread(fd, buf.data(), std::min<uint64_t>(buf.size(), end - off), static_cast<off_t>(off));
                    if (n <= 0) break;
                    off += static_cast<uint64_t>(n);
                }
            });
        for (auto& t : ts) t.join();
        bytes += size;
        close(fd);
    }
    return static_cast<double>(bytes) / seconds_since(t0);
}

double mmap_touch_rate(const std::vector<std::string>& files) {
    uint64_t bytes = 0, sum = 0;
    auto t0 = Clock::now();
    for (auto& f : files) {
        int fd = open_or_throw(f);
        struct stat st {};
        fstat(fd, &st);
        const uint64_t size = static_cast<uint64_t>(st.st_size);
        // hugetlbfs (serve=hugetlb) unmaps only whole huge pages: round the length to st_blksize.
        const uint64_t page = std::max<uint64_t>(4096, static_cast<uint64_t>(st.st_blksize));
        const uint64_t mapped = (size + page - 1) / page * page;
        auto* p = static_cast<volatile uint8_t*>(mmap(nullptr, mapped, PROT_READ, MAP_SHARED, fd, 0));
        close(fd);
        if (p == MAP_FAILED) throw std::runtime_error("mmap " + f + ": " + std::strerror(errno));
        madvise(const_cast<uint8_t*>(p), mapped, MADV_SEQUENTIAL);
        for (uint64_t off = 0; off < size; off += 4096) sum += p[off];
        if (munmap(const_cast<uint8_t*>(p), mapped) != 0) throw std::runtime_error("munmap " + f + ": " + std::strerror(errno));
        bytes += size;
    }
    return static_cast<double>(bytes) / seconds_since(t0) + (sum == 1 ? 1e-9 : 0);
}

double direct_rate(const std::vector<std::string>& files) {
    constexpr size_t kBlock = 1 << 20;
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, kBlock) != 0) throw std::runtime_error("posix_memalign");
    uint64_t bytes = 0;
    auto t0 = Clock::now();
    for (auto& f : files) {
        int fd = open(f.c_str(), O_RDONLY | O_DIRECT);
        if (fd < 0) {
            free(buf);
            throw std::runtime_error("open " + f + " O_DIRECT: " + std::strerror(errno));
        }
        ssize_t n;
        while ((n = read(fd, buf, kBlock)) > 0) bytes += static_cast<uint64_t>(n);
        close(fd);
    }
    double s = seconds_since(t0);
    free(buf);
    return static_cast<double>(bytes) / s;
}

double first_byte_ms(const std::string& path) {
    auto t0 = Clock::now();
    int fd = open_or_throw(path);
    char b[4096];
    (void)!read(fd, b, sizeof b);
    close(fd);
    return seconds_since(t0) * 1e3;
}

uint64_t walk_tree(const std::string& root) {
    uint64_t n = 0;
    std::vector<std::string> todo{root};
    while (!todo.empty()) {
        std::string dir = todo.back();
        todo.pop_back();
        DIR* d = opendir(dir.c_str());
        if (!d) continue;
        while (dirent* e = readdir(d)) {
            if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
            std::string p = dir + "/" + e->d_name;
            struct stat st {};
            if (lstat(p.c_str(), &st) != 0) continue;
            ++n;
            if (S_ISDIR(st.st_mode)) todo.push_back(p);
        }
        closedir(d);
    }
    return n;
}

}  // namespace bench

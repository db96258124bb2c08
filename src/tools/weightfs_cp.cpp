// weightfs-cp SRC DST: copies a file — a weightfs view included — into a hugetlbfs mount (or any
// file), the hugecp job done right: parallel copy into a shared mapping, pages allocated up front
// (fallocate, so a short hugepage pool fails at once), a NUMA policy bound before the pages are
// touched, a progress bar on a terminal, never overwriting, and an optional checksum of both sides.
// On hugetlbfs the copy keeps its exact size: fallocate sets it, and the destination is mapped
// read-only and then made writable (a writable mmap of a hugetlbfs file would grow it to whole
// pages, and hugetlbfs cannot truncate back to an unaligned size).
//
// Exit codes: 0 copied, 1 usage, 2 source unreadable, 3 destination exists or cannot be made,
// 4 copy failed, 5 checksum mismatch.
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr long kHugetlbfsMagic = 0x958458f6;

struct Args {
    std::string src, dst, numa;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    bool verify = false, quiet = false;
};

int usage(const char* why) {
    if (why) std::fprintf(stderr, "weightfs-cp: %s\n", why);
    std::fprintf(stderr,
                 "usage: weightfs-cp [--threads N] [--numa interleave|local|N] [--verify] [--quiet] SRC DST\n"
                 "Copies SRC to DST (a file on hugetlbfs or anywhere), refusing to overwrite DST.\n");
    return 1;
}

// 64-bit FNV-1a over a byte range (order-dependent: computed per 1 MiB block, then combined).
uint64_t fnv1a(const uint8_t* p, size_t n, uint64_t h = 1469598103934665603ull) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint64_t checksum(const uint8_t* p, size_t n, unsigned threads) {
    constexpr size_t kBlock = 1 << 20;
    const size_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<uint64_t> part(blocks);
    std::atomic<size_t> next{0};
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t)
        ts.emplace_back([&] {
            for (size_t b; (b = next++) < blocks;) part[b] = fnv1a(p + b * kBlock, std::min(kBlock, n - b * kBlock));
        });
    for (auto& t : ts) t.join();
    return fnv1a(reinterpret_cast<const uint8_t*>(part.data()), part.size() * 8);
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    std::vector<std::string> pos;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--verify") a.verify = true;
        else if (s == "--quiet") a.quiet = true;
        else if (s == "--threads" && i + 1 < argc) a.threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
        else if (s == "--numa" && i + 1 < argc) a.numa = argv[++i];
        else if (s == "-h" || s == "--help") return usage(nullptr), 0;
        else if (!s.empty() && s[0] == '-') return usage(("unknown option " + s).c_str());
        else pos.push_back(s);
    }
    if (pos.size() != 2) return usage("need SRC and DST");
    a.src = pos[0];
    a.dst = pos[1];

    int in = open(a.src.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        std::fprintf(stderr, "weightfs-cp: %s: %s\n", a.src.c_str(), in < 0 ? std::strerror(errno) : "not a regular file");
        return 2;
    }
    const size_t size = static_cast<size_t>(st.st_size);
    // The source's permission bits less the umask, as cp(1) gives: a private model stays private.
    int out = open(a.dst.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0) {
        std::fprintf(stderr, "weightfs-cp: %s: %s%s\n", a.dst.c_str(), std::strerror(errno),
                     errno == EEXIST ? " (refusing to overwrite)" : "");
        return 3;
    }
    auto fail = [&](int code, const std::string& why) {
        std::fprintf(stderr, "weightfs-cp: %s\n", why.c_str());
        close(out);
        unlink(a.dst.c_str());
        return code;
    };
    struct statfs fs {};
    const bool hugetlb = fstatfs(out, &fs) == 0 && fs.f_type == kHugetlbfsMagic;
    if (size == 0) {
        close(out);
        return 0;
    }
    // hugetlbfs takes no write() and only page-aligned ftruncate; fallocate sets the exact size.
    if (fallocate(out, 0, 0, static_cast<off_t>(size)) != 0 && (hugetlb || ftruncate(out, static_cast<off_t>(size)) != 0))
        return fail(3, a.dst + ": cannot size the destination: " + std::strerror(errno) +
                           (hugetlb ? " (is the hugepage pool large enough?)" : ""));
    const size_t page = hugetlb ? static_cast<size_t>(fs.f_bsize) : 4096;
    const size_t mapped = (size + page - 1) / page * page;
    auto* dst = static_cast<uint8_t*>(mmap(nullptr, mapped, PROT_READ, MAP_SHARED, out, 0));
    if (dst == MAP_FAILED) return fail(4, a.dst + ": mmap: " + std::strerror(errno));
    if (mprotect(dst, mapped, PROT_READ | PROT_WRITE) != 0) {
        munmap(dst, mapped);
        return fail(4, a.dst + ": mprotect: " + std::strerror(errno));
    }
    if (!a.numa.empty() && numa_available() >= 0) {
        if (a.numa == "interleave") numa_interleave_memory(dst, mapped, numa_all_nodes_ptr);
        else if (a.numa == "local") numa_setlocal_memory(dst, mapped);
        else numa_tonode_memory(dst, mapped, std::atoi(a.numa.c_str()));
    }

    // Parallel copy in 2 MiB pieces with pread straight into the destination pages.
    constexpr size_t kPiece = 2 << 20;
    const size_t pieces = (size + kPiece - 1) / kPiece;
    std::atomic<size_t> next{0}, done{0};
    std::atomic<int> error{0};
    std::vector<std::thread> ts;
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned t = 0; t < a.threads; ++t)
        ts.emplace_back([&] {
            for (size_t p; (p = next++) < pieces && !error;) {
                const size_t off = p * kPiece, len = std::min(kPiece, size - off);
                for (size_t got = 0; got < len;) {
                    ssize_t n = pread(in, dst + off + got, len - got, static_cast<off_t>(off + got));
                    if (n <= 0) {
                        error = n < 0 ? errno : EIO;
                        break;
                    }
                    got += static_cast<size_t>(n);
                }
                done += len;
            }
        });
    const bool bar = !a.quiet && isatty(2);
    while (bar && done < size && !error) {
        const double f = static_cast<double>(done) / static_cast<double>(size);
        const int w = static_cast<int>(40 * f);
        std::fprintf(stderr, "\r[%s%s] %3d%% %s", std::string(w, '#').c_str(), std::string(40 - w, '.').c_str(),
                     static_cast<int>(100 * f), a.dst.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : ts) t.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (bar && !error)
        std::fprintf(stderr, "\r[%s] 100%% %s\n", std::string(40, '#').c_str(), a.dst.c_str());
    if (error) {
        munmap(dst, mapped);
        return fail(4, a.src + ": read failed: " + std::strerror(error));
    }
    int rc = 0;
    if (a.verify) {
        void* src = mmap(nullptr, size, PROT_READ, MAP_SHARED, in, 0);
        if (src == MAP_FAILED) {
            munmap(dst, mapped);
            return fail(4, a.src + ": mmap for --verify: " + std::strerror(errno));
        }
        const uint64_t a_sum = checksum(static_cast<uint8_t*>(src), size, a.threads), b_sum = checksum(dst, size, a.threads);
        munmap(src, size);
        if (!a.quiet) std::fprintf(stderr, "checksum %016llx %s\n", static_cast<unsigned long long>(b_sum), a_sum == b_sum ? "ok" : "MISMATCH");
        if (a_sum != b_sum) rc = 5;
    }
    munmap(dst, mapped);
    close(out);
    close(in);
    if (!a.quiet)
        std::fprintf(stderr, "copied %zu bytes to %s%s in %.2f s (%.2f GB/s)\n", size, a.dst.c_str(),
                     hugetlb ? " (hugetlbfs)" : "", secs,
                     static_cast<double>(size) / secs / 1e9);
    return rc;
}

// What the benchmark measures: kernel rates on one core, and reading files the ways consumers
// do — read() at 1 MiB, pread from two threads, mmap-and-touch, O_DIRECT — in bytes per second.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

double memcpy_rate();                 // one core, bytes/s, best of 3
double dequant_rate();                // FP8 -> BF16 kernel, one core, output bytes/s
double repack_rate(int32_t type);     // repack kernel for a ggml type, one core, bytes/s

double read_rate(const std::vector<std::string>& files, size_t block = 1 << 20);
double pread_rate(const std::vector<std::string>& files, unsigned threads);  // files split into halves per thread
double mmap_touch_rate(const std::vector<std::string>& files);             // one byte read per 4 KiB page
double direct_rate(const std::vector<std::string>& files);                 // O_DIRECT, 1 MiB aligned reads
double first_byte_ms(const std::string& path);
// Walks a tree the way `ls -lR` does (readdir + lstat of every entry); returns entries seen.
uint64_t walk_tree(const std::string& root);

}  // namespace bench

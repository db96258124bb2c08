// libFuzzer: the safetensors reader (JSON header from hostile bytes). Whatever it accepts, the
// writer must lay out again and the reader must read back as the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "formats/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    wfs::MemoryByteReader in(data, size, "fuzz.safetensors");
    auto h = wfs::st::read_header(in);
    if (!h) return 0;
    std::vector<wfs::st::OutTensor> out;
    uint64_t total = 0;
    for (const auto& t : h->tensors) {
        out.push_back({t.name, t.dtype, t.shape, t.bytes(), 0});
        total += t.bytes();  // the reader proved these lie inside the input
    }
    std::vector<uint8_t> file = wfs::st::layout(out);
    file.resize(file.size() + total);
    wfs::MemoryByteReader again_in(file.data(), file.size(), "fuzz-again.safetensors");
    auto again = wfs::st::read_header(again_in);
    if (!again) std::abort();  // the writer wrote something its own reader refuses
    if (again->tensors.size() != h->tensors.size()) std::abort();
    std::map<std::string, const wfs::st::Tensor*> by_name;
    for (const auto& t : again->tensors) by_name[t.name] = &t;
    for (const auto& t : h->tensors) {
        auto it = by_name.find(t.name);
        if (it == by_name.end()) std::abort();
        const auto& u = *it->second;
        if (u.dtype != t.dtype || u.shape != t.shape || u.bytes() != t.bytes()) std::abort();
    }
    return 0;
}

// libFuzzer: the safetensors reader (JSON header from hostile bytes).
#include <cstddef>
#include <cstdint>

#include "formats/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    wfs::MemoryByteReader in(data, size, "fuzz.safetensors");
    auto h = wfs::st::read_header(in);
    if (!h) return 0;
    std::vector<wfs::st::OutTensor> out;
    for (const auto& t : h->tensors) out.push_back({t.name, t.dtype, t.shape, t.bytes(), 0});
    (void)wfs::st::layout(out);
    return 0;
}

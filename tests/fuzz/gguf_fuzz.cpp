// libFuzzer: the GGUF reader must refuse or accept any bytes without crashing, and what it accepts
// must survive a rewrite and re-parse, and a one-shard merge.
#include <cstddef>
#include <cstdint>

#include "formats/gguf.hpp"
#include "formats/gguf_merge.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    wfs::MemoryByteReader in(data, size, "fuzz.gguf");
    auto h = wfs::gguf::read_header(in);
    if (!h) return 0;
    auto meta = wfs::gguf::write_metadata(h->version, h->kv, h->tensors, h->alignment, false);
    wfs::MemoryByteReader again(meta.data(), meta.size(), "rewrite");
    (void)wfs::gguf::read_header(again);
    (void)wfs::gguf::merge_split({&h.value()}, {"fuzz.gguf"}, wfs::gguf::MergeOrder::Mainline);
    for (const auto& kv : h->kv) (void)wfs::gguf::roundtrip_kv(kv);
    return 0;
}

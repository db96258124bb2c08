// libFuzzer: model.safetensors.index.json and config.json readers/writers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "formats/hf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    wfs::MemoryByteReader in(data, size, "fuzz.json");
    if (auto idx = wfs::hf::read_index(in)) {
        std::vector<std::pair<std::string_view, std::string_view>> map;
        for (const auto& e : idx->entries) {
            if (idx->file_of(e.tensor) != &idx->file(e)) __builtin_trap();  // the lookup agrees with the list
            map.push_back({e.tensor, idx->file(e)});
        }
        (void)wfs::hf::write_index(map);
    }
    bool had = false;
    (void)wfs::hf::strip_quantization_config(in, &had);
    (void)wfs::hf::read_model_config(in);
    (void)wfs::hf::python_json_string(std::string(reinterpret_cast<const char*>(data), size));
    return 0;
}

#include "formats/gguf.hpp"

#include <cstring>
#include <unordered_set>

#include "formats/ggml_types.hpp"

namespace wfs::gguf {

namespace {

// Fixed byte size of a scalar value type; 0 for STRING/ARRAY, nullopt for unknown ids.
std::optional<size_t> scalar_size(int32_t type) {
    switch (type) {
        case UINT8: case INT8: case BOOL: return 1;
        case UINT16: case INT16: return 2;
        case UINT32: case INT32: case FLOAT32: return 4;
        case UINT64: case INT64: case FLOAT64: return 8;
        case STRING: case ARRAY: return 0;
        default: return std::nullopt;
    }
}

void append(std::vector<uint8_t>& out, const void* p, size_t n) {
    // resize + memcpy rather than insert(): GCC 12 warns falsely (-Wstringop-overflow) on the latter.
    size_t base = out.size();
    out.resize(base + n);
    if (n) std::memcpy(out.data() + base, p, n);
}

template <class T>
void append_pod(std::vector<uint8_t>& out, T v) { append(out, &v, sizeof v); }

void append_string(std::vector<uint8_t>& out, std::string_view s) {
    append_pod<uint64_t>(out, s.size());
    append(out, s.data(), s.size());
}

// Bytes the header may still take: what is left of the file, within kMaxHeaderBytes.
uint64_t header_left(const Cursor& c) {
    return c.offset() >= kMaxHeaderBytes ? 0 : std::min(c.remaining(), kMaxHeaderBytes - c.offset());
}

const char* beyond(const Cursor& c) {
    return c.remaining() > header_left(c) ? "the 64 MiB header limit" : "the bytes left in the file (truncated?)";
}

// Reads a length-prefixed string into `out` (its raw encoding when `raw` is set).
Status read_string(Cursor& c, std::string* text, std::vector<uint8_t>* raw, const char* what) {
    uint64_t at = c.offset();
    uint64_t len = 0;
    WFS_TRY(c.pod(len, what));
    if (len > kMaxStringLength || len > header_left(c))
        return c.error(std::string(what) + ": length " + std::to_string(len) + " exceeds " +
                           (len > kMaxStringLength ? "the 1 GiB limit" : beyond(c)), at);
    if (raw) {
        size_t base = raw->size();
        append_pod(*raw, len);
        raw->resize(base + 8 + len);
        WFS_TRY(c.bytes(raw->data() + base + 8, len, what));
    } else {
        text->resize(len);
        WFS_TRY(c.bytes(text->data(), len, what));
    }
    return {};
}

Status read_value(Cursor& c, int32_t type, std::vector<uint8_t>& out, const std::string& key) {
    auto size = scalar_size(type);
    if (!size) return c.error("key '" + key + "': unknown value type " + std::to_string(type));
    if (type == STRING) return read_string(c, nullptr, &out, "string value");
    if (type != ARRAY) {
        size_t base = out.size();
        out.resize(base + *size);
        return c.bytes(out.data() + base, *size, "scalar value");
    }
    uint64_t at = c.offset();
    int32_t elem = 0;
    uint64_t n = 0;
    WFS_TRY(c.pod(elem, "array element type"));
    WFS_TRY(c.pod(n, "array length"));
    auto esize = scalar_size(elem);
    if (!esize) return c.error("key '" + key + "': unknown array element type " + std::to_string(elem), at);
    if (elem == ARRAY) return c.error("key '" + key + "': nested arrays are not supported", at);
    // Every element takes at least 1 byte (strings at least 8): bound n by the bytes left.
    uint64_t min_elem = elem == STRING ? 8 : *esize;
    if (n > kMaxArrayElements || n > header_left(c) / min_elem)
        return c.error("key '" + key + "': array length " + std::to_string(n) + " exceeds " +
                       (n > kMaxArrayElements ? "the 2^30 element limit" : beyond(c)), at);
    append_pod(out, elem);
    append_pod(out, n);
    if (elem == STRING) {
        for (uint64_t i = 0; i < n; ++i) WFS_TRY(read_string(c, nullptr, &out, "array string"));
        return {};
    }
    size_t base = out.size();
    out.resize(base + n * *esize);
    return c.bytes(out.data() + base, n * *esize, "array data");
}

template <class T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

const KeyValue* Header::find(std::string_view key) const {
    for (const auto& e : kv)
        if (e.key == key) return &e;
    return nullptr;
}

std::optional<uint64_t> Header::get_uint(std::string_view key) const {
    const KeyValue* e = find(key);
    if (!e) return std::nullopt;
    const uint8_t* p = e->value.data();
    switch (e->type) {
        case UINT8: return load<uint8_t>(p);
        case UINT16: return load<uint16_t>(p);
        case UINT32: return load<uint32_t>(p);
        case UINT64: return load<uint64_t>(p);
        case INT8: { auto v = load<int8_t>(p); return v < 0 ? std::nullopt : std::optional<uint64_t>(v); }
        case INT16: { auto v = load<int16_t>(p); return v < 0 ? std::nullopt : std::optional<uint64_t>(v); }
        case INT32: { auto v = load<int32_t>(p); return v < 0 ? std::nullopt : std::optional<uint64_t>(v); }
        case INT64: { auto v = load<int64_t>(p); return v < 0 ? std::nullopt : std::optional<uint64_t>(v); }
        default: return std::nullopt;
    }
}

std::optional<std::string> Header::get_string(std::string_view key) const {
    const KeyValue* e = find(key);
    if (!e || e->type != STRING) return std::nullopt;
    uint64_t n = load<uint64_t>(e->value.data());
    return std::string(reinterpret_cast<const char*>(e->value.data() + 8), n);
}

Result<Header> read_header(const ByteReader& in) {
    Cursor c(in);
    Header h;
    char magic[4];
    WFS_TRY(c.bytes(magic, 4, "magic"));
    if (std::memcmp(magic, "GGUF", 4) != 0) return c.error("bad magic: expected \"GGUF\"", 0);
    WFS_TRY(c.pod(h.version, "version"));
    if (h.version == 0 || (h.version & 0xFFFF) == 0)
        return c.error("version " + std::to_string(h.version) + ": big-endian or corrupt GGUF is not supported", 4);
    if (h.version == 1 || h.version > 3)
        return c.error("unsupported GGUF version " + std::to_string(h.version) + " (expected 2 or 3)", 4);
    int64_t n_tensors = 0, n_kv = 0;
    WFS_TRY(c.pod(n_tensors, "tensor count"));
    WFS_TRY(c.pod(n_kv, "key/value count"));
    // A KV takes at least 8+1+4+1 bytes and a tensor info at least 8+1+4+4+8: bound counts by the file.
    if (n_tensors < 0 || static_cast<uint64_t>(n_tensors) > header_left(c) / 25)
        return c.error("tensor count " + std::to_string(n_tensors) + " is impossible within " + beyond(c) +
                           " (file of " + std::to_string(in.size()) + " bytes)", 8);
    if (n_kv < 0 || static_cast<uint64_t>(n_kv) > header_left(c) / 14)
        return c.error("key/value count " + std::to_string(n_kv) + " is impossible within " + beyond(c) +
                           " (file of " + std::to_string(in.size()) + " bytes)", 16);

    std::unordered_set<std::string> keys;
    h.kv.reserve(static_cast<size_t>(std::min<int64_t>(n_kv, 4096)));  // counts are claims until read
    for (int64_t i = 0; i < n_kv; ++i) {
        KeyValue e;
        uint64_t at = c.offset();
        WFS_TRY(read_string(c, &e.key, nullptr, "key"));
        if (e.key.empty()) return c.error("key/value " + std::to_string(i) + ": empty key", at);
        if (!keys.insert(e.key).second) return c.error("duplicate key '" + e.key + "'", at);
        WFS_TRY(c.pod(e.type, "value type"));
        WFS_TRY(read_value(c, e.type, e.value, e.key));
        h.kv.push_back(std::move(e));
    }

    if (const KeyValue* a = h.find("general.alignment")) {
        if (a->type != UINT32) return c.error("general.alignment must be a u32");
        uint32_t v = load<uint32_t>(a->value.data());
        if (v == 0 || (v & (v - 1)) != 0)
            return c.error("general.alignment " + std::to_string(v) + " is not a power of two");
        h.alignment = v;
    }

    std::unordered_set<std::string> names;
    h.tensors.reserve(static_cast<size_t>(std::min<int64_t>(n_tensors, 4096)));
    for (int64_t i = 0; i < n_tensors; ++i) {
        TensorInfo t;
        uint64_t at = c.offset();
        WFS_TRY(read_string(c, &t.name, nullptr, "tensor name"));
        if (t.name.size() > kMaxNameLength)
            return c.error("tensor name '" + t.name.substr(0, 64) + "...' is " + std::to_string(t.name.size()) +
                               " bytes (at most 63 allowed)", at);
        if (!names.insert(t.name).second) return c.error("duplicate tensor name '" + t.name + "'", at);
        WFS_TRY(c.pod(t.n_dims, "tensor n_dims"));
        if (t.n_dims > 4)
            return c.error("tensor '" + t.name + "': n_dims " + std::to_string(t.n_dims) + " (at most 4)");
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            WFS_TRY(c.pod(t.ne[d], "tensor dimension"));
            if (t.ne[d] < 0) return c.error("tensor '" + t.name + "': negative dimension " + std::to_string(t.ne[d]));
        }
        int64_t elems = 1;
        for (int d = 0; d < 4; ++d)
            if (__builtin_mul_overflow(elems, t.ne[d], &elems))
                return c.error("tensor '" + t.name + "': element count overflows");
        uint64_t type_at = c.offset();
        WFS_TRY(c.pod(t.type, "tensor type"));
        const ggml::TypeTraits* traits = ggml::find_type(t.type);
        if (!traits) return c.error("tensor '" + t.name + "': unknown ggml type id " + std::to_string(t.type), type_at);
        auto nbytes = ggml::tensor_nbytes(*traits, t.ne);
        if (!nbytes)
            return c.error("tensor '" + t.name + "': shape [" + std::to_string(t.ne[0]) + ", ...] is not a whole "
                           "number of " + std::string(traits->name) + " blocks or its size overflows", type_at);
        t.nbytes = *nbytes;
        WFS_TRY(c.pod(t.offset, "tensor offset"));
        if (c.offset() > kMaxHeaderBytes) return c.error("the header exceeds the 64 MiB limit", at);
        h.tensors.push_back(std::move(t));
    }
    h.info_end = c.offset();
    h.data_offset = pad(h.info_end, h.alignment);

    // Offsets must be contiguous in info order and every tensor must lie inside the file.
    uint64_t expect = 0;
    for (const auto& t : h.tensors) {
        if (t.offset != expect)
            return c.error("tensor '" + t.name + "' has data offset " + std::to_string(t.offset) + ", expected " +
                               std::to_string(expect) + " (tensors must be contiguous)", h.info_end);
        uint64_t padded = pad(t.nbytes, h.alignment);
        if (padded < t.nbytes || __builtin_add_overflow(expect, padded, &expect))
            return c.error("tensor '" + t.name + "': data size overflows");
    }
    uint64_t data_end = 0;
    if (__builtin_add_overflow(h.data_offset, expect, &data_end))
        return c.error("data section size overflows");
    if (!h.tensors.empty()) {
        const TensorInfo& last = h.tensors.back();
        uint64_t last_end = h.data_offset + last.offset + last.nbytes;
        if (h.data_offset > in.size() || last_end > in.size())
            return c.error("tensor data ends at " + std::to_string(last_end) + " but the file has " +
                               std::to_string(in.size()) + " bytes (truncated?)", in.size());
    }
    h.data_end = data_end;
    return h;
}

uint32_t normalized_n_dims(const int64_t ne[4]) {
    for (int i = 3; i >= 1; --i)
        if (ne[i] > 1) return static_cast<uint32_t>(i + 1);
    return 1;
}

KeyValue make_u16(std::string key, uint16_t v) {
    KeyValue e{std::move(key), UINT16, {}};
    append_pod(e.value, v);
    return e;
}
KeyValue make_u32(std::string key, uint32_t v) {
    KeyValue e{std::move(key), UINT32, {}};
    append_pod(e.value, v);
    return e;
}
KeyValue make_i32(std::string key, int32_t v) {
    KeyValue e{std::move(key), INT32, {}};
    append_pod(e.value, v);
    return e;
}

KeyValue roundtrip_kv(const KeyValue& kv) {
    auto cut = [](const uint8_t* p, uint64_t n) {
        const void* z = std::memchr(p, 0, n);
        return z ? static_cast<uint64_t>(static_cast<const uint8_t*>(z) - p) : n;
    };
    KeyValue out{kv.key, kv.type, {}};
    const uint8_t* p = kv.value.data();
    if (kv.type == STRING) {
        uint64_t n = load<uint64_t>(p);
        append_string(out.value, std::string_view(reinterpret_cast<const char*>(p + 8), cut(p + 8, n)));
    } else if (kv.type == BOOL) {
        out.value.push_back(p[0] ? 1 : 0);
    } else if (kv.type == ARRAY && (load<int32_t>(p) == STRING || load<int32_t>(p) == BOOL)) {
        int32_t elem = load<int32_t>(p);
        uint64_t n = load<uint64_t>(p + 4);
        append_pod(out.value, elem);
        append_pod(out.value, n);
        const uint8_t* q = p + 12;
        for (uint64_t i = 0; i < n; ++i) {
            if (elem == BOOL) {
                out.value.push_back(*q++ ? 1 : 0);
                continue;
            }
            uint64_t len = load<uint64_t>(q);
            append_string(out.value, std::string_view(reinterpret_cast<const char*>(q + 8), cut(q + 8, len)));
            q += 8 + len;
        }
    } else {
        out.value = kv.value;
    }
    return out;
}

std::vector<uint8_t> write_metadata(uint32_t version, const std::vector<KeyValue>& kv,
                                    const std::vector<TensorInfo>& tensors, uint32_t alignment, bool normalize_dims) {
    std::vector<uint8_t> out;
    append(out, "GGUF", 4);
    append_pod<uint32_t>(out, version);
    append_pod<int64_t>(out, static_cast<int64_t>(tensors.size()));
    append_pod<int64_t>(out, static_cast<int64_t>(kv.size()));
    for (const auto& e : kv) {
        append_string(out, e.key);
        append_pod<int32_t>(out, e.type);
        append(out, e.value.data(), e.value.size());
    }
    for (const auto& t : tensors) {
        append_string(out, t.name);
        uint32_t n_dims = normalize_dims ? normalized_n_dims(t.ne) : t.n_dims;
        append_pod<uint32_t>(out, n_dims);
        for (uint32_t d = 0; d < n_dims; ++d) append_pod<int64_t>(out, t.ne[d]);
        append_pod<int32_t>(out, t.type);
        append_pod<uint64_t>(out, t.offset);
    }
    out.resize(pad(out.size(), alignment), 0);
    return out;
}

}  // namespace wfs::gguf

#include "formats/safetensors.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

namespace wfs::st {

namespace {

struct DtypeInfo {
    Dtype d;
    const char* name;
    unsigned bits;
};

constexpr std::array<DtypeInfo, 22> kDtypes{{
    {Dtype::BOOL, "BOOL", 8},        {Dtype::F4, "F4", 4},           {Dtype::F6_E2M3, "F6_E2M3", 6},
    {Dtype::F6_E3M2, "F6_E3M2", 6},  {Dtype::U8, "U8", 8},           {Dtype::I8, "I8", 8},
    {Dtype::F8_E5M2, "F8_E5M2", 8},  {Dtype::F8_E4M3, "F8_E4M3", 8}, {Dtype::F8_E8M0, "F8_E8M0", 8},
    {Dtype::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8}, {Dtype::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {Dtype::I16, "I16", 16},         {Dtype::U16, "U16", 16},        {Dtype::F16, "F16", 16},
    {Dtype::BF16, "BF16", 16},       {Dtype::I32, "I32", 32},        {Dtype::U32, "U32", 32},
    {Dtype::F32, "F32", 32},         {Dtype::C64, "C64", 64},        {Dtype::F64, "F64", 64},
    {Dtype::I64, "I64", 64},         {Dtype::U64, "U64", 64},
}};

}  // namespace

std::optional<Dtype> parse_dtype(const std::string& s) {
    for (const auto& d : kDtypes)
        if (s == d.name) return d.d;
    return std::nullopt;
}
const char* dtype_name(Dtype d) { return kDtypes[static_cast<size_t>(d)].name; }
unsigned dtype_bits(Dtype d) { return kDtypes[static_cast<size_t>(d)].bits; }

uint64_t Tensor::elements() const {
    uint64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
}

const Tensor* Header::find(const std::string& name) const {
    for (const auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

Result<Header> read_header(const ByteReader& in) {
    auto fail = [&](const std::string& what, uint64_t at) {
        return make_error(EINVAL, in.name() + ": offset " + std::to_string(at) + ": " + what, at);
    };
    if (in.size() < 8) return fail("file of " + std::to_string(in.size()) + " bytes is too small for a safetensors header", 0);
    Header h;
    WFS_TRY(in.read(0, 8, &h.header_len));
    if (h.header_len > kMaxHeader) return fail("header length " + std::to_string(h.header_len) + " exceeds 100 MB", 0);
    if (8 + h.header_len > in.size())
        return fail("header length " + std::to_string(h.header_len) + " runs past the end of the file (" +
                        std::to_string(in.size()) + " bytes; truncated?)", 0);
    h.data_offset = 8 + h.header_len;
    std::string text(h.header_len, '\0');
    WFS_TRY(in.read(8, h.header_len, text.data()));

    // Each top-level member is checked as soon as it is parsed and then dropped, so memory stays
    // at one tensor's entry plus the results (a DOM of a lying 100 MB header would take ~1 GB).
    std::string key;
    std::optional<Error> problem;
    auto member = [&](const std::string& name, const nlohmann::json& v) -> Status {
        if (name == "__metadata__") {
            if (!v.is_object()) return fail("__metadata__ is not an object", 8);
            for (auto m = v.begin(); m != v.end(); ++m)
                if (!m.value().is_string()) return fail("__metadata__ value for '" + m.key() + "' is not a string", 8);
            h.has_metadata = true;
            return {};
        }
        auto bad = [&](const std::string& what) { return fail("tensor '" + name + "': " + what, 8); };
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            return bad("needs dtype, shape and data_offsets");
        Tensor t;
        t.name = name;
        if (!v["dtype"].is_string()) return bad("dtype is not a string");
        auto d = parse_dtype(v["dtype"].get<std::string>());
        if (!d) return bad("unknown dtype " + v["dtype"].dump());
        t.dtype = *d;
        if (!v["shape"].is_array() || v["shape"].size() > 16) return bad("shape is not an array of at most 16 sizes");
        unsigned __int128 bits = dtype_bits(t.dtype);
        for (const auto& s : v["shape"]) {
            if (!s.is_number_unsigned()) return bad("shape holds something other than a non-negative integer");
            t.shape.push_back(s.get<uint64_t>());
            bits *= t.shape.back();
            if (bits > (static_cast<unsigned __int128>(1) << 66)) return bad("shape's byte size overflows");
        }
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            return bad("data_offsets is not [begin, end]");
        t.begin = off[0].get<uint64_t>();
        t.end = off[1].get<uint64_t>();
        if (t.end < t.begin) return bad("data_offsets end before they begin");
        if (bits % 8 != 0) return bad("size in bits is not a whole number of bytes");
        if (static_cast<uint64_t>(bits / 8) != t.end - t.begin)
            return bad("shape × dtype is " + std::to_string(static_cast<uint64_t>(bits / 8)) + " bytes but data_offsets span " +
                       std::to_string(t.end - t.begin));
        h.tensors.push_back(std::move(t));
        return {};
    };
    using Event = nlohmann::json::parse_event_t;
    auto on_event = [&](int depth, Event ev, nlohmann::json& parsed) -> bool {
        if (problem) return false;
        if (depth == 0 && ev == Event::array_start) problem = fail("header is not a JSON object", 8);
        if (depth != 1) return true;
        if (ev == Event::key) {
            key = parsed.get<std::string>();
            return true;
        }
        if (ev == Event::object_end || ev == Event::array_end || ev == Event::value) {
            Status st = member(key, parsed);
            if (!st) problem = st.error();
            return false;  // dropped from the DOM
        }
        return true;
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, on_event, true, false);
    } catch (const nlohmann::json::parse_error& e) {
        return fail(std::string("header is not valid JSON: ") + e.what(), 8 + std::min<uint64_t>(e.byte, h.header_len));
    } catch (const nlohmann::json::exception& e) {  // e.g. a number out of range
        return fail(std::string("header is not usable JSON: ") + e.what(), 8);
    }
    if (problem) return *problem;
    if (!j.is_object()) return fail("header is not a JSON object", 8);
    std::string().swap(text);  // the text is done with: lower the peak for what follows
    {
        std::vector<const std::string*> by_name;
        by_name.reserve(h.tensors.size());
        for (const auto& t : h.tensors) by_name.push_back(&t.name);
        std::sort(by_name.begin(), by_name.end(), [](auto* a, auto* b) { return *a < *b; });
        for (size_t i = 1; i < by_name.size(); ++i)
            if (*by_name[i] == *by_name[i - 1]) return fail("tensor '" + *by_name[i] + "': appears twice", 8);
    }
    std::sort(h.tensors.begin(), h.tensors.end(), [](const Tensor& a, const Tensor& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expect = 0;
    for (const auto& t : h.tensors) {
        if (t.begin != expect)
            return fail("tensor '" + t.name + "' starts at data offset " + std::to_string(t.begin) + ", expected " +
                            std::to_string(expect) + " (tensors must be contiguous)", h.data_offset + std::min(t.begin, expect));
        expect = t.end;
    }
    if (h.data_offset + expect != in.size())
        return fail("tensors end at " + std::to_string(h.data_offset + expect) + " but the file has " +
                        std::to_string(in.size()) + " bytes" + (h.data_offset + expect > in.size() ? " (truncated?)" : ""),
                    std::min(in.size(), h.data_offset + expect));
    return h;
}

void append_json_string(std::string& out, const std::string& s) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        // Plain printable bytes (every real tensor name) are appended as one run.
        size_t run = i;
        while (run < s.size() && static_cast<unsigned char>(s[run]) >= 0x20 && s[run] != '"' && s[run] != '\\') ++run;
        if (run > i) {
            out.append(s, i, run - i);
            i = run;
            continue;
        }
        const unsigned char c = static_cast<unsigned char>(s[i++]);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            }
        }
    }
    out += '"';
}

std::string json_string(const std::string& s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

std::vector<uint8_t> layout(std::vector<OutTensor>& tensors) {
    std::sort(tensors.begin(), tensors.end(), [](const OutTensor& a, const OutTensor& b) {
        if (a.dtype != b.dtype) return static_cast<int>(a.dtype) > static_cast<int>(b.dtype);
        return a.name < b.name;  // std::string compares bytewise, like Rust's String
    });
    std::string json = "{";
    size_t need = 16;
    for (const auto& t : tensors) need += t.name.size() + 96;
    json.reserve(need);
    uint64_t offset = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        auto& t = tensors[i];
        t.begin = offset;
        offset += t.bytes;
        if (i) json += ',';
        append_json_string(json, t.name);
        json += ":{\"dtype\":\"";
        json += dtype_name(t.dtype);
        json += "\",\"shape\":[";
        for (size_t d = 0; d < t.shape.size(); ++d) {
            if (d) json += ',';
            json += std::to_string(t.shape[d]);
        }
        json += "],\"data_offsets\":[" + std::to_string(t.begin) + "," + std::to_string(offset) + "]}";
    }
    json += "}";
    json.resize((json.size() + 7) / 8 * 8, ' ');
    std::vector<uint8_t> out(8 + json.size());
    uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, json.data(), json.size());
    return out;
}

}  // namespace wfs::st

#include "formats/safetensors.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>

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

namespace {

// The header's JSON, checked event by event (nlohmann's SAX interface): no value is ever built,
// so a lying 100 MB header costs its text and the tensor list, and nesting costs a counter. After
// the first problem the events are ignored but parsing goes on: a syntax error, if any, is reported.
class HeaderSax {
public:
    using json = nlohmann::json;
    using Fail = std::function<Error(const std::string&, uint64_t)>;

    HeaderSax(Header& h, Fail fail) : h_(h), fail_(std::move(fail)) {}

    std::optional<Error> problem;

    bool start_object(size_t) {
        if (problem) return true;
        if (skip_ > 0) return ++skip_, true;
        if (at_ == At::Start) return at_ = At::Members, true;
        if (at_ == At::Value && member_ == "__metadata__") return at_ = At::Metadata, true;
        if (at_ == At::Value) {
            t_ = Tensor{};
            t_.name = member_;
            seen_ = 0;
            return at_ = At::Tensor, true;
        }
        if (at_ == At::FieldValue && field_ == Field::Other) return skip_ = 1, true;
        return unexpected();
    }
    bool end_object() {
        if (problem) return true;
        if (skip_ > 0) return end_skipped();
        switch (at_) {
            case At::Members: at_ = At::Done; return true;
            case At::Metadata:
                h_.has_metadata = true;
                at_ = At::Members;
                return true;
            case At::Tensor: return end_tensor();
            default: return true;  // the parser pairs brackets itself
        }
    }
    bool start_array(size_t) {
        if (problem) return true;
        if (skip_ > 0) return ++skip_, true;
        if (at_ == At::FieldValue && field_ == Field::Shape) return at_ = At::Shape, true;
        if (at_ == At::FieldValue && field_ == Field::Offsets) return at_ = At::Offsets, offsets_ = 0, true;
        if (at_ == At::FieldValue && field_ == Field::Other) return skip_ = 1, true;
        return unexpected();
    }
    bool end_array() {
        if (problem) return true;
        if (skip_ > 0) return end_skipped();
        if (at_ == At::Offsets && offsets_ != 2) return bad_tensor("data_offsets is not [begin, end]");
        at_ = At::Tensor;
        return true;
    }
    bool key(std::string& k) {
        if (problem || skip_ > 0) return true;
        if (at_ == At::Members) {
            member_ = k;
            at_ = At::Value;
        } else if (at_ == At::Metadata) {
            meta_key_ = k;
        } else if (at_ == At::Tensor) {
            field_ = k == "dtype" ? Field::Dtype : k == "shape" ? Field::Shape : k == "data_offsets" ? Field::Offsets : Field::Other;
            if (field_ != Field::Other) {
                const unsigned bit = 1u << static_cast<unsigned>(field_);
                if (seen_ & bit) return bad_tensor("field '" + k + "' appears twice");
                seen_ |= bit;
            }
            at_ = At::FieldValue;
        }
        return true;
    }
    bool string(std::string& v) {
        if (problem || skip_ > 0 || at_ == At::Metadata) return true;
        if (at_ == At::FieldValue && field_ == Field::Dtype) {
            auto d = parse_dtype(v);
            if (!d) return bad_tensor("unknown dtype " + json(v).dump());
            t_.dtype = *d;
            at_ = At::Tensor;
            return true;
        }
        return unexpected();
    }
    bool number_unsigned(uint64_t v) {
        if (problem) return true;
        if (skip_ > 0) return true;
        if (at_ == At::Shape) {
            if (t_.shape.size() == 16) return bad_tensor("shape is not an array of at most 16 sizes");
            t_.shape.push_back(v);
            return true;
        }
        if (at_ == At::Offsets) {
            if (offsets_ == 2) return bad_tensor("data_offsets is not [begin, end]");
            (offsets_++ == 0 ? t_.begin : t_.end) = v;
            return true;
        }
        return unexpected();
    }
    bool number_integer(int64_t) { return problem || unexpected(); }
    bool number_float(double, const std::string&) { return problem || unexpected(); }
    bool boolean(bool) { return problem || unexpected(); }
    bool null() { return problem || unexpected(); }
    bool binary(json::binary_t&) { return problem || unexpected(); }
    bool parse_error(size_t at, const std::string&, const nlohmann::detail::exception& e) {
        problem = fail_(std::string("header is not valid JSON: ") + e.what(), 8 + std::min<uint64_t>(at, h_.header_len));
        return false;
    }

private:
    enum class At { Start, Members, Value, Metadata, Tensor, FieldValue, Shape, Offsets, Done };
    enum class Field : unsigned { Dtype, Shape, Offsets, Other };

    bool stop(Error e) {
        problem = std::move(e);
        return true;
    }
    bool bad_tensor(const std::string& what) { return stop(fail_("tensor '" + t_.name + "': " + what, 8)); }
    bool bad_metadata() { return stop(fail_("__metadata__ value for '" + meta_key_ + "' is not a string", 8)); }
    bool end_skipped() {
        if (--skip_ == 0) at_ = At::Tensor;
        return true;
    }
    bool wrong_field() {
        switch (field_) {
            case Field::Dtype: return bad_tensor("dtype is not a string");
            case Field::Shape: return bad_tensor("shape is not an array of at most 16 sizes");
            default: return bad_tensor("data_offsets is not [begin, end]");
        }
    }
    // A value the grammar above does not take where it stands (a field nobody reads takes any).
    bool unexpected() {
        if (skip_ > 0) return true;
        switch (at_) {
            case At::Start: return stop(fail_("header is not a JSON object", 8));
            case At::Value:
                if (member_ == "__metadata__") return stop(fail_("__metadata__ is not an object", 8));
                t_.name = member_;
                return bad_tensor("needs dtype, shape and data_offsets");
            case At::Metadata: return bad_metadata();
            case At::FieldValue:
                if (field_ == Field::Other) return at_ = At::Tensor, true;
                return wrong_field();
            case At::Shape: return bad_tensor("shape holds something other than a non-negative integer");
            default: return bad_tensor("data_offsets is not [begin, end]");
        }
    }
    bool end_tensor() {
        if (seen_ != 7u) return bad_tensor("needs dtype, shape and data_offsets");
        unsigned __int128 bits = dtype_bits(t_.dtype);
        for (uint64_t s : t_.shape) {
            bits *= s;
            if (bits > (static_cast<unsigned __int128>(1) << 66)) return bad_tensor("shape's byte size overflows");
        }
        if (t_.end < t_.begin) return bad_tensor("data_offsets end before they begin");
        if (bits % 8 != 0) return bad_tensor("size in bits is not a whole number of bytes");
        if (static_cast<uint64_t>(bits / 8) != t_.end - t_.begin)
            return bad_tensor("shape × dtype is " + std::to_string(static_cast<uint64_t>(bits / 8)) +
                              " bytes but data_offsets span " + std::to_string(t_.end - t_.begin));
        h_.tensors.push_back(std::move(t_));
        at_ = At::Members;
        return true;
    }

    Header& h_;
    Fail fail_;
    At at_ = At::Start;
    std::string member_, meta_key_;
    Tensor t_;
    Field field_ = Field::Other;
    unsigned seen_ = 0;   // bit per Field met in this tensor
    unsigned offsets_ = 0;
    size_t skip_ = 0;     // depth inside a field nobody reads
};

}  // namespace

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
    {
        auto text = std::make_unique_for_overwrite<char[]>(h.header_len);  // up to 100 MB: not zeroed first
        WFS_TRY(in.read(8, h.header_len, text.get()));
        HeaderSax sax(h, fail);
        bool ok = false;
        try {
            ok = nlohmann::json::sax_parse(text.get(), text.get() + h.header_len, &sax);
        } catch (const nlohmann::json::exception& e) {
            return fail(std::string("header is not usable JSON: ") + e.what(), 8);
        }
        if (sax.problem) return *sax.problem;
        if (!ok) return fail("header is not valid JSON", 8);
    }
    {
        std::unordered_set<std::string_view> names(h.tensors.size());
        for (const auto& t : h.tensors)
            if (!names.insert(t.name).second) return fail("tensor '" + t.name + "': appears twice", 8);
    }
    auto in_data_order = [](const Tensor& a, const Tensor& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; };
    if (!std::is_sorted(h.tensors.begin(), h.tensors.end(), in_data_order))  // save_file writes them in order
        std::sort(h.tensors.begin(), h.tensors.end(), in_data_order);
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

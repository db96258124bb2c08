#include "formats/hf.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace wfs::hf {

namespace {

using ordered = nlohmann::ordered_json;

Result<ordered> parse(const ByteReader& in) {
    if (in.size() > kMaxJson) return make_error(EINVAL, in.name() + ": " + std::to_string(in.size()) + " bytes is too large for a JSON file here");
    std::string text(in.size(), '\0');
    WFS_TRY(in.read(0, text.size(), text.data()));
    try {
        return ordered::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        return make_error(EINVAL, in.name() + ": offset " + std::to_string(e.byte) + ": not valid JSON: " + e.what(), e.byte);
    } catch (const nlohmann::json::exception& e) {  // e.g. a number out of range
        return make_error(EINVAL, in.name() + ": not usable JSON: " + e.what());
    }
}

void append_utf16(std::string& out, uint32_t u) {
    char buf[16];  // "\\u" and four digits (u is one UTF-16 unit); room for more keeps -Wformat-truncation quiet
    std::snprintf(buf, sizeof buf, "\\u%04x", u);
    out += buf;
}

// Python's json.dumps(indent=2) of a parsed document.
void dump(const ordered& v, int indent, std::string& out) {
    const std::string pad(static_cast<size_t>(indent + 2), ' ');
    if (v.is_object()) {
        if (v.empty()) return (void)(out += "{}");
        out += "{\n";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ",\n";
            out += pad;
            out += python_json_string(it.key());
            out += ": ";
            dump(it.value(), indent + 2, out);
            first = false;
        }
        out += "\n" + std::string(static_cast<size_t>(indent), ' ') + "}";
    } else if (v.is_array()) {
        if (v.empty()) return (void)(out += "[]");
        out += "[\n";
        for (size_t i = 0; i < v.size(); ++i) {
            if (i) out += ",\n";
            out += pad;
            dump(v[i], indent + 2, out);
        }
        out += "\n" + std::string(static_cast<size_t>(indent), ' ') + "]";
    } else if (v.is_string()) {
        out += python_json_string(v.get<std::string>());
    } else if (v.is_boolean()) {
        out += v.get<bool>() ? "true" : "false";
    } else if (v.is_null()) {
        out += "null";
    } else if (v.is_number_float()) {
        double d = v.get<double>();
        out += std::isfinite(d) ? v.dump() : (std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
    } else {
        out += v.dump();
    }
}

}  // namespace

void append_python_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        // Plain printable ASCII (nearly every tensor and file name) is appended as one run.
        size_t run = i;
        while (run < s.size() && s[run] >= 0x20 && s[run] < 0x7F && s[run] != '"' && s[run] != '\\') ++run;
        if (run > i) {
            out.append(s, i, run - i);
            i = run;
            continue;
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        uint32_t cp = c;
        size_t n = 1;
        if (c >= 0x80) {  // decode UTF-8 (invalid bytes pass as U+FFFD, as a lossy decode would)
            n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (n == 1 || i + n > s.size()) {
                cp = 0xFFFD;
                n = 1;
            } else {
                cp = c & (0xFF >> (n + 1));
                for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
            }
        }
        i += n;
        switch (cp) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            default: break;
        }
        if (cp >= 0x20 && cp < 0x7F) {
            out += static_cast<char>(cp);
        } else if (cp >= 0x10000) {
            cp -= 0x10000;
            append_utf16(out, 0xD800 + (cp >> 10));
            append_utf16(out, 0xDC00 + (cp & 0x3FF));
        } else {
            append_utf16(out, cp);
        }
    }
    out += '"';
}

std::string python_json_string(const std::string& s) {
    std::string out;
    append_python_json_string(out, s);
    return out;
}

std::string_view Index::keep(std::string_view name) {
    constexpr size_t kBlock = 1 << 20;
    if (name.size() > block_left_) {
        const size_t size = std::max(kBlock, name.size());
        blocks_.push_back(std::make_unique<char[]>(size));
        block_end_ = blocks_.back().get() + size;
        block_left_ = size;
    }
    char* at = block_end_ - block_left_;
    std::memcpy(at, name.data(), name.size());
    block_left_ -= name.size();
    return {at, name.size()};
}

const std::string* Index::file_of(std::string_view tensor) const {
    auto it = position.find(tensor);
    return it == position.end() ? nullptr : &files[entries[it->second].file];
}

namespace {

// SAX events of an index: weight_map's entries are taken as the parser meets them, so a
// DeepSeek-sized index (160k entries) costs one pass and builds no JSON values at all.
class IndexReader final : public nlohmann::json::json_sax_t {
public:
    IndexReader(Index& idx, const std::string& name) : idx_(idx), name_(name) {}
    std::optional<Error> problem;
    bool top_is_object = false, map_seen = false;

    bool null() override { return scalar(); }
    bool boolean(bool) override { return scalar(); }
    bool number_integer(number_integer_t) override { return scalar(); }
    bool number_unsigned(number_unsigned_t) override { return scalar(); }
    bool number_float(number_float_t, const string_t&) override { return scalar(); }
    bool binary(binary_t&) override { return scalar(); }
    bool string(string_t& value) override {
        if (!in_map_at_value()) return true;
        // Entries come in runs of the same shard: the last file name is checked before the hash.
        if (idx_.files.empty() || value != idx_.files[last_file_]) {
            auto f = file_ids_.try_emplace(value, static_cast<uint32_t>(idx_.files.size())).first;
            if (f->second == idx_.files.size()) idx_.files.push_back(value);
            last_file_ = f->second;
        }
        // The name is kept first, so the map's key can view it: one hash per entry.
        const std::string_view name = idx_.keep(key_);
        const auto slot = static_cast<uint32_t>(idx_.entries.size());
        auto [p, added] = idx_.position.try_emplace(name, slot);
        if (added) idx_.entries.push_back({name, last_file_});
        else idx_.entries[p->second].file = last_file_;  // a repeated key: the last value wins, as in Python
        return true;
    }
    bool start_object(std::size_t) override { return open(true); }
    bool start_array(std::size_t) override { return open(false); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool key(string_t& k) override {
        if (depth_ == 1) map_key_ = k == "weight_map";
        else if (in_map_ && depth_ == 2) key_ = k;
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& e) override {
        problem = make_error(EINVAL, name_ + ": offset " + std::to_string(position) + ": not valid JSON: " + e.what(), position);
        return false;
    }

private:
    bool in_map_at_value() const { return in_map_ && depth_ == 2; }
    bool not_a_file_name() {
        problem = make_error(EINVAL, name_ + ": weight_map['" + key_ + "'] is not a file name");
        return false;
    }
    bool scalar() { return in_map_at_value() ? not_a_file_name() : true; }
    bool open(bool object) {
        if (in_map_at_value()) return not_a_file_name();
        ++depth_;
        if (depth_ == 1) top_is_object = object;
        if (depth_ == 2 && map_key_ && object) in_map_ = map_seen = true;
        return true;
    }
    bool close() {
        if (depth_ == 2) in_map_ = false;
        --depth_;
        return true;
    }

    Index& idx_;
    const std::string& name_;
    std::unordered_map<std::string, uint32_t> file_ids_;
    uint32_t last_file_ = 0;
    int depth_ = 0;
    bool map_key_ = false, in_map_ = false;
    std::string key_;
};

}  // namespace

Result<Index> read_index(const ByteReader& in) {
    if (in.size() > kMaxJson) return make_error(EINVAL, in.name() + ": " + std::to_string(in.size()) + " bytes is too large for a JSON file here");
    std::string text(in.size(), '\0');
    WFS_TRY(in.read(0, text.size(), text.data()));
    Index idx;
    idx.position.reserve(text.size() / 80);  // an entry is ~90 bytes: no rehash on the way
    idx.entries.reserve(text.size() / 80);
    IndexReader reader(idx, in.name());
    bool ok = false;
    try {
        ok = nlohmann::json::sax_parse(text, &reader);
    } catch (const nlohmann::json::exception& e) {
        return make_error(EINVAL, in.name() + ": not usable JSON: " + e.what());
    }
    if (reader.problem) return *reader.problem;
    if (!ok || !reader.top_is_object || !reader.map_seen) return make_error(EINVAL, in.name() + ": no weight_map object");
    return idx;
}

std::string write_index(const std::vector<std::pair<std::string_view, std::string_view>>& weight_map) {
    std::string out = "{\n  \"metadata\": {},\n  \"weight_map\": ";
    if (weight_map.empty()) return out + "{}\n}";
    size_t need = out.size() + 16;
    for (const auto& [tensor, file] : weight_map) need += tensor.size() + file.size() + 12;
    out.reserve(need);
    out += "{\n";
    for (size_t i = 0; i < weight_map.size(); ++i) {
        if (i) out += ",\n";
        out += "    ";
        append_python_json_string(out, weight_map[i].first);
        out += ": ";
        append_python_json_string(out, weight_map[i].second);
    }
    return out + "\n  }\n}";
}

Result<std::string> read_architecture(const ByteReader& in) {
    auto j = parse(in);
    if (!j) return j.error();
    if (j->is_object() && j->contains("architectures") && (*j)["architectures"].is_array() &&
        !(*j)["architectures"].empty() && (*j)["architectures"][0].is_string())
        return (*j)["architectures"][0].get<std::string>();
    return std::string();
}

Result<ModelConfig> read_model_config(const ByteReader& in) {
    auto j = parse(in);
    if (!j) return j.error();
    if (!j->is_object()) return make_error(EINVAL, in.name() + ": not a JSON object");
    ModelConfig c;
    auto num = [&](const char* key, int64_t& out) {
        if (j->contains(key) && (*j)[key].is_number_integer()) out = (*j)[key].get<int64_t>();
    };
    num("hidden_size", c.hidden_size);
    num("intermediate_size", c.intermediate_size);
    num("num_hidden_layers", c.num_hidden_layers);
    num("num_attention_heads", c.num_attention_heads);
    num("num_key_value_heads", c.num_key_value_heads);
    num("vocab_size", c.vocab_size);
    num("max_position_embeddings", c.max_position_embeddings);
    num("head_dim", c.head_dim);
    if (j->contains("tie_word_embeddings") && (*j)["tie_word_embeddings"].is_boolean())
        c.tie_word_embeddings = (*j)["tie_word_embeddings"].get<bool>();
    if (j->contains("architectures") && (*j)["architectures"].is_array() && !(*j)["architectures"].empty() &&
        (*j)["architectures"][0].is_string())
        c.architecture = (*j)["architectures"][0].get<std::string>();
    return c;
}

Result<std::string> strip_quantization_config(const ByteReader& in, bool* had_it) {
    auto j = parse(in);
    if (!j) return j.error();
    if (!j->is_object()) return make_error(EINVAL, in.name() + ": not a JSON object");
    *had_it = j->erase("quantization_config") > 0;
    if (j->contains("text_config") && (*j)["text_config"].is_object())
        *had_it = (*j)["text_config"].erase("quantization_config") > 0 || *had_it;
    std::string out;
    dump(*j, 0, out);
    return out;
}

}  // namespace wfs::hf

#include "transforms/part_names.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>

namespace wfs {

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

namespace {
bool all_lower(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 'a' && c <= 'z'; });
}
}  // namespace

std::optional<ShardName> parse_shard_name(const std::string& f) {
    const size_t of = f.rfind("-of-");
    if (of == std::string::npos) return std::nullopt;
    size_t k0 = of, n1 = of + 4;
    while (k0 > 0 && std::isdigit(static_cast<unsigned char>(f[k0 - 1]))) --k0;
    while (n1 < f.size() && std::isdigit(static_cast<unsigned char>(f[n1]))) ++n1;
    ShardName s;
    s.index_width = of - k0;
    s.count_width = n1 - (of + 4);
    if (s.index_width == 0 || s.index_width > 9 || s.count_width == 0 || s.count_width > 9 || k0 == 0 || f[k0 - 1] != '-')
        return std::nullopt;
    s.prefix = f.substr(0, k0 - 1);
    s.suffix = f.substr(n1);
    s.index = static_cast<uint32_t>(std::stoul(f.substr(k0, s.index_width)));
    s.count = static_cast<uint32_t>(std::stoul(f.substr(of + 4, s.count_width)));
    return s;
}

std::optional<std::string> shard_name(const ShardName& set, uint32_t index) {
    auto padded = [](uint32_t v, size_t width) -> std::optional<std::string> {
        std::string d = std::to_string(v);
        if (d.size() > width) return std::nullopt;
        return d.insert(0, width - d.size(), '0');
    };
    auto k = padded(index, set.index_width), n = padded(set.count, set.count_width);
    if (!k || !n) return std::nullopt;
    return set.prefix + "-" + *k + "-of-" + *n + set.suffix;
}

std::optional<SplitName> parse_split_name(const std::string& f) {
    auto s = parse_shard_name(f);
    if (!s || s->prefix.empty() || s->suffix != ".gguf" || s->index_width != 5 || s->count_width != 5 || s->index == 0 ||
        s->count == 0 || s->index > s->count)
        return std::nullopt;
    return SplitName{s->prefix, s->index, s->count};
}

std::string split_name(const std::string& prefix, uint32_t index, uint32_t count) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%05u-of-%05u.gguf", index, count);
    return prefix + buf;
}

std::optional<PartName> parse_part_name(const std::string& f) {
    size_t dot = f.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == f.size()) return std::nullopt;
    std::string base = f.substr(0, dot), ext = f.substr(dot + 1);
    // NAME.partKofN
    if (ext.rfind("part", 0) == 0) {
        size_t of = ext.find("of", 4);
        if (of == std::string::npos) return std::nullopt;
        std::string k = ext.substr(4, of - 4), n = ext.substr(of + 2);
        if (!all_digits(k) || !all_digits(n) || k.size() > 6 || n.size() > 6) return std::nullopt;
        uint32_t ki = std::stoul(k), ni = std::stoul(n);
        if (ki == 0 || ni < 2 || ki > ni) return std::nullopt;
        return PartName{base, PartScheme::PartKofN, k, ki, ni};
    }
    // NAME.001 (3+ digits: two-digit extensions are too often something else)
    if (all_digits(ext) && ext.size() >= 3 && ext.size() <= 6)
        return PartName{base, PartScheme::Numeric, ext, std::stoull(ext), 0};
    // NAME.aa (split(1)'s default suffixes, 2+ letters)
    if (all_lower(ext) && ext.size() >= 2 && ext.size() <= 3) {
        uint64_t v = 0;
        for (char c : ext) v = v * 26 + static_cast<uint64_t>(c - 'a');
        return PartName{base, PartScheme::Alpha, ext, v, 0};
    }
    return std::nullopt;
}

std::vector<PartSetPlan> plan_part_sets(const std::vector<std::string>& filenames,
                                        std::map<std::string, std::string>& problems) {
    // Group by (base, scheme, suffix width, N).
    using Key = std::tuple<std::string, int, size_t, uint32_t>;
    std::map<Key, std::vector<std::pair<PartName, std::string>>> groups;
    for (const auto& f : filenames)
        if (auto p = parse_part_name(f))
            groups[{p->base, static_cast<int>(p->scheme), p->scheme == PartScheme::PartKofN ? 0 : p->suffix.size(),
                    p->count}].push_back({*p, f});

    std::vector<PartSetPlan> plans;
    for (auto& [key, members] : groups) {
        auto scheme = static_cast<PartScheme>(std::get<1>(key));
        std::sort(members.begin(), members.end(), [](auto& a, auto& b) { return a.first.order < b.first.order; });
        // Alpha and numeric suffixes of a lone file are ordinary extensions, not parts.
        if (members.size() < 2 && scheme != PartScheme::PartKofN) continue;
        // Letter suffixes are only split(1) parts when they start at "aa": "config.json" next to
        // "config.yaml" are two ordinary files, not a broken set.
        if (scheme == PartScheme::Alpha && members.front().first.order != 0) continue;
        uint64_t start = scheme == PartScheme::PartKofN ? 1 : members.front().first.order;
        if (scheme == PartScheme::Numeric && start > 1) start = ~0ull;  // must start at 0 or 1
        std::string reason;
        if (start == ~0ull) {
            reason = "part set '" + std::get<0>(key) + "' does not start at its first part";
        } else {
            for (size_t i = 0; i < members.size(); ++i)
                if (members[i].first.order != start + i) {
                    reason = "part set '" + std::get<0>(key) + "' is missing part " + std::to_string(start + i) +
                             " (or has a duplicate)";
                    break;
                }
            if (reason.empty() && scheme == PartScheme::PartKofN && members.size() != std::get<3>(key))
                reason = "part set '" + std::get<0>(key) + "' has " + std::to_string(members.size()) + " of " +
                         std::to_string(std::get<3>(key)) + " parts";
        }
        if (!reason.empty()) {
            for (auto& m : members) problems[m.second] = reason;
            continue;
        }
        PartSetPlan plan{std::get<0>(key), scheme, {}};
        for (auto& m : members) plan.members.push_back(m.second);
        plans.push_back(std::move(plan));
    }
    return plans;
}

}  // namespace wfs

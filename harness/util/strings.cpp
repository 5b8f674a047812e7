#include "util/strings.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace util {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Optimal string alignment distance; scenario keys are short, so O(n*m) is fine.
    const std::size_t n = a.size(), m = b.size();
    std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
    for (std::size_t i = 0; i <= n; ++i)
        d[i][0] = i;
    for (std::size_t j = 0; j <= m; ++j)
        d[0][j] = j;
    for (std::size_t i = 1; i <= n; ++i) {
        for (std::size_t j = 1; j <= m; ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[n][m];
}

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
    std::optional<std::string> best;
    std::size_t best_distance = 0;
    for (const auto& c : candidates) {
        std::size_t dist = edit_distance(word, c);
        if (!best || dist < best_distance) {
            best = c;
            best_distance = dist;
        }
    }
    // A third of the word's length (at least 1, at most 3) separates typos from other words.
    std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
    if (best && best_distance <= limit)
        return best;
    return std::nullopt;
}

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::optional<std::uint64_t> parse_hex64(std::string_view text) {
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text.remove_prefix(2);
    if (text.empty() || text.size() > 16)
        return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text) {
        int digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            return std::nullopt;
        v = (v << 4) | static_cast<std::uint64_t>(digit);
    }
    return v;
}

std::string shell_quote(std::string_view word) {
    if (word.empty())
        return "''";
    bool plain = std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '/' || c == '.' || c == '_' || c == '-' || c == '=' || c == ':' ||
               c == ',' || c == '+' || c == '@' || c == '%';
    });
    if (plain)
        return std::string(word);
    std::string out = "'";
    for (char c : word) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += "'";
    return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty())
            out += ' ';
        out += shell_quote(a);
    }
    return out;
}

std::string sanitize_file_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out += ok ? c : '_';
    }
    if (out.empty() || out == "." || out == "..")
        out = "_" + out;
    if (out.size() > 100)
        out.resize(100);
    return out;
}

std::string format_double(double v) {
    char buf[64];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v)
            break;
    }
    return buf;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

std::string format_micros(std::uint32_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ns >= 10000 ? "%.0f us" : "%.1f us", ns / 1000.0);
    return buf;
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == sep) {
            out.emplace_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

std::vector<std::string> last_lines(std::string_view text, std::size_t max_lines) {
    std::vector<std::string> out;
    for (auto& line : split(text, '\n')) {
        auto end = line.find_last_not_of(" \t\r");
        if (end == std::string::npos)
            continue;
        line.erase(end + 1);
        out.push_back(std::move(line));
    }
    if (out.size() > max_lines)
        out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(max_lines));
    return out;
}

std::string base_name(const std::string& path) {
    auto pos = path.find_last_of('/');
    return pos == std::string::npos ? path : path.substr(pos + 1);
}

} // namespace util

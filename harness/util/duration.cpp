#include "util/duration.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace util {

std::optional<Nanos> parse_duration(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    std::string s(text);
    char* end = nullptr;
    double value = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || !std::isfinite(value) || value < 0)
        return std::nullopt;
    std::string_view unit(end);
    double scale = 0;
    if (unit.empty() || unit == "s")
        scale = 1e9;
    else if (unit == "ms")
        scale = 1e6;
    else if (unit == "us" || unit == "µs")
        scale = 1e3;
    else if (unit == "ns")
        scale = 1;
    else if (unit == "m" || unit == "min")
        scale = 60e9;
    else if (unit == "h")
        scale = 3600e9;
    else
        return std::nullopt;
    double ns = value * scale;
    if (ns > 9.2e18)
        return std::nullopt;
    return Nanos(static_cast<long long>(std::llround(ns)));
}

std::string format_duration(Nanos d) {
    // The largest unit that divides the value exactly, so the text parses back to the same
    // duration: 10s, 1500ms, 200us.
    const long long ns = d.count();
    struct Unit {
        long long scale;
        const char* name;
    };
    static constexpr Unit units[] = {{3600'000'000'000LL, "h"}, {60'000'000'000LL, "m"},
                                     {1'000'000'000LL, "s"},    {1'000'000LL, "ms"},
                                     {1'000LL, "us"},           {1LL, "ns"}};
    if (ns == 0)
        return "0s";
    for (const auto& u : units)
        if (ns % u.scale == 0)
            return std::to_string(ns / u.scale) + u.name;
    return std::to_string(ns) + "ns";
}

std::string format_eta(Nanos d) {
    long long s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0)
        s = 0;
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%llds", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    return buf;
}

} // namespace util

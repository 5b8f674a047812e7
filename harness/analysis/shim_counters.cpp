#include "analysis/shim_counters.hpp"

#include <cstring>
#include <fstream>
#include <string>

namespace racehunt {

namespace fs = std::filesystem;

ShimCountersFile read_shim_counters_file(const fs::path& file) {
    ShimCountersFile f;
    std::memset(&f.data, 0, sizeof f.data);
    std::ifstream in(file, std::ios::binary);
    in.read(reinterpret_cast<char*>(&f.data), sizeof f.data);
    f.bytes = static_cast<std::size_t>(in.gcount());
    return f;
}

ShimTotals sum_shim_counters(const std::map<int, ShimCountersFile>& files) {
    static const char* const kClassNames[] = {
#define RACEHUNT_X_NAME(id, name) name,
        RACEHUNT_POINT_CLASSES(RACEHUNT_X_NAME)
#undef RACEHUNT_X_NAME
    };
    ShimTotals t;
    std::uint64_t calls[RACEHUNT_POINT_COUNT] = {}, yields[RACEHUNT_POINT_COUNT] = {},
                  delays[RACEHUNT_POINT_COUNT] = {};
    std::uint64_t delay_ns = 0, windows = 0, starve_ns = 0, wake_yields = 0;
    for (const auto& [pid, file] : files) {
        const racehunt_shim_counters& c = file.data;
        if (file.bytes < offsetof(racehunt_shim_counters, decisions) || c.magic != RACEHUNT_SHIM_MAGIC)
            continue;
        ++t.processes;
        if (c.flags & RACEHUNT_SHIM_FLAG_BAD_OPTION)
            ++t.flags_bad_option;
        if (c.flags & RACEHUNT_SHIM_FLAG_PROTOCOL_BAD)
            ++t.flags_protocol_bad;
        if ((c.flags & RACEHUNT_SHIM_FLAG_ENABLED) && !(c.flags & RACEHUNT_SHIM_FLAG_ARMED) &&
            std::strncmp(c.exe, "python", 6) == 0)
            ++t.python_never_armed;
        for (int i = 0; i < RACEHUNT_POINT_COUNT; ++i) {
            calls[i] += c.calls[i];
            yields[i] += c.yields[i];
            delays[i] += c.delays[i];
        }
        delay_ns += c.delay_ns_total;
        windows += c.starvation_windows;
        starve_ns += c.starvation_ns_total;
        wake_yields += c.wake_yields;
    }
    if (t.processes == 0)
        return t;
    nlohmann::json per_class = nlohmann::json::object();
    for (int i = 0; i < RACEHUNT_POINT_COUNT; ++i) {
        t.calls += calls[i];
        t.yields += yields[i];
        t.delays += delays[i];
        if (calls[i] || yields[i] || delays[i])
            per_class[kClassNames[i]] = {calls[i], yields[i], delays[i]};
    }
    t.detail = {{"processes", t.processes},
                {"calls", t.calls},
                {"yields", t.yields},
                {"delays", t.delays},
                {"wake_yields", wake_yields},
                {"delay_ms", static_cast<double>(delay_ns / 1000) / 1000.0},
                {"starvation_windows", windows},
                {"starvation_ms", static_cast<double>(starve_ns / 1000) / 1000.0},
                {"per_class", per_class}};
    return t;
}

} // namespace racehunt

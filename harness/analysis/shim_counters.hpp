// Reading the shim's per-process counters files (docs/PROTOCOL.md, shim-<pid>.bin).
#pragma once
#include "protocol.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>

namespace racehunt {

struct ShimTotals {
    std::uint64_t processes = 0;
    std::uint64_t calls = 0, yields = 0, delays = 0; // over all classes
    std::uint64_t flags_bad_option = 0, flags_protocol_bad = 0;
    // Python processes (exe python*) that made sync-point calls but were never armed: they
    // did not run racehunt's bootstrap to its end (-I, -S, PYTHONPATH dropped).
    std::uint64_t python_never_armed = 0;
    nlohmann::json detail = nlohmann::json::object(); // per class, for the JSONL line
};

// One shim-<pid>.bin: the counters as far as the file held them.
struct ShimCountersFile {
    racehunt_shim_counters data{};
    std::size_t bytes = 0; // read from the file (a process killed in its start-up leaves fewer)
};
ShimCountersFile read_shim_counters_file(const std::filesystem::path& file);

// Sums every initialised counters file of a run. Files that are short or whose magic is not
// set (a process killed during start-up) are skipped.
ShimTotals sum_shim_counters(const std::map<int, ShimCountersFile>& files);

} // namespace racehunt

// Reading the shim's per-process counters files (docs/PROTOCOL.md, shim-<pid>.bin).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>

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

// Sums every initialised counters file in `run_dir`. Files that are short or whose magic
// is not set (a process killed during start-up) are skipped.
ShimTotals read_shim_counters(const std::filesystem::path& run_dir);

} // namespace racehunt

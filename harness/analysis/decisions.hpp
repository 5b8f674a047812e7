// The decision log of a failing run: every perturbation that was injected, per process and
// thread, from the shim's mapped logs (shim-<pid>.dlog) and the bootstrap's yield logs
// (yields-<pid>.log), as decisions.txt.
#pragma once
#include "plan/pins.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct RunDir; // analysis/run_dir.hpp

struct ShimDecision {
    std::uint32_t thread = 0, n = 0;
    std::string point;  // "mutex", "cond", ...
    std::string action; // "yield", "delay", "wake", "starve"
    std::uint32_t ns = 0;
    std::uint16_t image = 1;
    std::uint64_t site = 0; // return address of the interposed call
};

struct ShimDecisionLog {
    int pid = 0;
    std::uint64_t total = 0; // decisions logged, including those past the capacity
    std::vector<ShimDecision> kept;
};

// Reads one shim-<pid>.dlog; nullopt when it is missing, truncated or not a decision log.
std::optional<ShimDecisionLog> read_shim_dlog(const std::filesystem::path& file);

// The call sites a process resolved at exit (shim-<pid>.sites), by (image, address):
// "PyThread_acquire_lock_timed+0x5c (python3.11)", or "libfoo.so+0x1234" without a symbol.
std::map<std::pair<std::uint16_t, std::uint64_t>, std::string> read_shim_sites(const std::filesystem::path& file);

// Every perturbation of a run directory as pins (all of them): the shim's decisions with the
// process keys from the counters files, the Python yields with the keys from the yield
// logs' headers. Decisions of an earlier program image of an exec'd process cannot be
// pinned (its key is gone) and are left out; `unpinnable` counts them.
Pins collect_decisions(const RunDir& run, std::optional<double> switch_interval,
                       std::size_t* unpinnable = nullptr);
// The same, reading the directory.
Pins collect_decisions(const std::filesystem::path& run_dir, std::optional<double> switch_interval,
                       std::size_t* unpinnable = nullptr);

// decisions.txt of a run directory (read_failure_files); `switch_interval` as planned
// (nullopt: kept).
std::string render_decisions(const RunDir& run, std::optional<double> switch_interval, const std::string& title);

} // namespace racehunt

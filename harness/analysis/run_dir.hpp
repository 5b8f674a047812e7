// A run directory as the injectors left it (docs/PROTOCOL.md, "The run directory"), read
// into one value that the verdict, the merged dump, the decision log and the interleaving
// all take. Its files come from processes that may have been killed mid-write: a torn last
// line of a log is skipped, a short or unreadable file counts as absent.
#pragma once
#include "analysis/decisions.hpp"
#include "analysis/interleaving.hpp"
#include "analysis/outcome.hpp"
#include "analysis/shim_counters.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace racehunt {

// A string field of a JSON object written by another process; empty when absent or not a
// string (the writer may have been killed, or be a version that did not write it).
inline std::string json_string(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct RunDir {
    std::filesystem::path path;
    std::vector<std::string> files; // every file name in it, sorted

    // Read by read_run_dir: what every run's verdict and counters need.
    std::vector<PyProcessReport> reports; // py-<pid>.jsonl with a start event: the root first, then by pid
    // Kernel tid -> Python thread name, from the `threads_seen` of each py-<pid>.jsonl (by
    // the pid in the file name).
    std::map<int, std::map<int, std::string>> threads_seen;
    std::map<int, ShimCountersFile> shim_counters; // shim-<pid>.bin
    ShimTotals shim;                               // their sums

    // Read by read_failure_files: what only a failing run's dump and logs need (a decision
    // log alone can be megabytes, so a passing run is not made to read them).
    bool failure_files = false;
    nlohmann::json processes;                // processes.json; null when absent or unreadable
    std::map<int, nlohmann::json> thread_maps; // threads-<pid>.jsonl replayed: the live threads
    std::map<int, nlohmann::json> pystacks;    // pystacks-<pid>.json
    std::map<int, std::string> faulthandler;   // faulthandler-<pid>.txt
    std::map<int, std::string> native;         // native-<pid>.txt (--native-stacks)
    std::map<int, std::optional<ShimDecisionLog>> shim_dlogs; // shim-<pid>.dlog; nullopt: unreadable
    std::map<int, std::map<std::pair<std::uint16_t, std::uint64_t>, std::string>> shim_sites; // shim-<pid>.sites
    std::map<int, std::vector<std::string>> yield_logs; // yields-<pid>.log, line by line
    std::map<int, std::vector<std::string>> loop_logs;  // loop-<pid>.log, line by line
    std::vector<std::string> control_log_names;         // control-<pid>.log and trace-<pid>.log
    std::vector<ControlLog> control_logs;               // those of them that are readable, in name order

    // The text of a per-process file, "" when there is none.
    static const std::string& text_of(const std::map<int, std::string>& files, int pid);
};

RunDir read_run_dir(const std::filesystem::path& dir);
void read_failure_files(RunDir& run);

// Every event of a py-<pid>.jsonl, in order; lines that are not a JSON object (the torn
// last line of a killed process) are skipped.
std::vector<nlohmann::json> read_events(const std::filesystem::path& file);

// The process's latest `start` event says its bootstrap registered the dump signal (an image
// that exec'd a native program, or a bootstrap that stopped early, would be killed by it).
bool registered_dump_signal(const std::filesystem::path& events);

// The pid in a per-process file name (prefix RACEHUNT_FILE_SHIM_PREFIX and "shim-42.dlog"
// give 42); 0 without the prefix.
int pid_in_name(const std::string& name, const std::string& prefix);

} // namespace racehunt

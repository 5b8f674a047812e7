// How parsed command-line options and a scenario combine into a campaign: the command line
// wins over the scenario, which wins over the defaults. The interpreter is found and asked
// what really runs, the output directory is made ready, and mistakes that would fail every
// run the same way are found before any run (campaign/preflight.hpp).
#pragma once
#include "campaign/campaign.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

// The options of `run`, `replay` and `minimize`, as cli/options.cpp parsed and checked them.
struct RunOptions {
    std::string scenario;               // the first (replay and minimize: the only) one
    std::vector<std::string> scenarios; // run: files or directories, as given
    std::optional<std::int64_t> runs, jobs, stop_after, repeat, final_runs;
    std::optional<std::string> seed, timeout, profile, time_budget, shard, out, json, junit,
        python, start, pins, confirm, fail_threshold, resume;
    bool quiet = false, no_color = false, native_stacks = false;
    bool resume_minimize = false; // minimize --resume
    bool no_config_check = false; // --no-config-check
};

enum class CommandKind { Run, Replay, Minimize };

// Builds the campaign: validates values, finds the interpreter, prepares the output
// directory. Throws util::Error (Usage) naming the option or the scenario key.
// `python_index` picks an entry of a version matrix (workload.python as a list).
CampaignConfig make_campaign_config(const Scenario& s, const RunOptions& o, CommandKind kind,
                                    std::size_t python_index = 0);

// "0.01", "1%" -> 0.01; throws util::Error naming `option`.
double parse_rate(const std::string& text, const std::string& option);

// An output file named by an option (--json, --junit): absolute, its directory writable.
std::filesystem::path output_file(const std::string& arg, const std::string& option);

} // namespace racehunt

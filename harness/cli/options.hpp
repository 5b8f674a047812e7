// Command-line options of `run` and `replay` as a plain struct, and how they combine with a
// scenario into a campaign: the command line wins over the scenario, which wins over the
// defaults.
#pragma once
#include "campaign/campaign.hpp"

#include <boost/program_options.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

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

// Throws util::Error (Usage) naming the option and the fix.
RunOptions parse_run_options(const std::vector<std::string>& args, CommandKind kind);

// Parses a command's arguments against its options; the operands land under `operands`.
// Program_options errors become util::Error naming the option (with a did-you-mean, or
// the value given) and the hint "see racehunt COMMAND --help".
boost::program_options::variables_map parse_command_line(const std::vector<std::string>& args,
                                                         const boost::program_options::options_description& desc,
                                                         const char* operands, const std::string& command);

// Each command's options, as its --help shows them (operands are added by the parser).
boost::program_options::options_description run_options(CommandKind kind); // run, replay, minimize
boost::program_options::options_description merge_options();
boost::program_options::options_description compare_options();
std::string format_options(const boost::program_options::options_description& d);

// A run seed as racehunt prints it: exactly 16 hex digits.
bool is_run_seed(const std::string& text);

// Builds the campaign: validates values, finds the interpreter, prepares the output
// directory. Throws util::Error (Usage) naming the option or the scenario key.
// `python_index` picks an entry of a version matrix (workload.python as a list).
CampaignConfig make_campaign_config(const Scenario& s, const RunOptions& o, CommandKind kind,
                                    std::size_t python_index = 0);

// run: the scenario files the arguments name, in order. A directory stands for the .toml
// files in it and the scenario.toml of each subdirectory, sorted. Throws util::Error naming
// an argument that is neither, or a directory with no scenario.
std::vector<std::string> expand_scenario_args(const std::vector<std::string>& args);

// replay and minimize: the options, the campaign and the run seed they work on (the seed is
// required; the scenario is loaded and checked). Throws util::Error as the above.
struct SeedCommand {
    RunOptions options;
    CampaignConfig config;
    std::uint64_t seed = 0;
};
SeedCommand prepare_seed_command(const std::vector<std::string>& args, CommandKind kind);

// "3/5" -> {3, 5}; throws util::Error naming `--confirm`.
std::pair<int, int> parse_confirm(const std::string& text);

// Which slice of the campaign's runs this process makes: --shard K/N; else RACEHUNT_SHARD;
// else a Slurm array task (SLURM_ARRAY_TASK_ID, _COUNT, _MIN); else a Kubernetes Indexed
// Job (JOB_COMPLETION_INDEX with RACEHUNT_SHARD_COUNT). {1, 1, ""} when none applies.
struct Shard {
    std::uint64_t k = 1, n = 1;
    std::string source; // where it came from, for the header line
};
Shard resolve_shard(const std::optional<std::string>& option,
                    const std::function<const char*(const char*)>& getenv_);

// "3/8" -> {3, 8}; throws util::Error naming `--shard`.
std::pair<std::uint64_t, std::uint64_t> parse_shard(const std::string& text);

// "0.01", "1%" -> 0.01; throws util::Error naming `option`.
double parse_rate(const std::string& text, const std::string& option);

// An output file named by an option (--json, --junit): absolute, its directory writable.
std::filesystem::path output_file(const std::string& arg, const std::string& option);

} // namespace racehunt

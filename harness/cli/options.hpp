// Command-line options of `run`, `replay` and `minimize` into the plain struct
// campaign/configure.hpp combines with a scenario; the options of merge and compare.
#pragma once
#include "campaign/configure.hpp"

#include <boost/program_options.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

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

// "K/N" with 1 <= K <= N <= max_n; nullopt otherwise.
std::optional<std::pair<long long, long long>> parse_k_of_n(const std::string& text, long long max_n);

// "3/8" -> {3, 8}; throws util::Error naming `--shard`.
std::pair<std::uint64_t, std::uint64_t> parse_shard(const std::string& text);

} // namespace racehunt

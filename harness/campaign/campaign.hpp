// A campaign: one scenario, N runs, the settings that came from the scenario file and the
// command line, and what executing one run of it means end to end.
#pragma once
#include "analysis/record.hpp"
#include "plan/jitter.hpp"
#include "plan/pins.hpp"
#include "run/process_runner.hpp"
#include "scenario/scenario.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

// Where racehunt finds the injectors it ships.
struct Injectors {
    std::filesystem::path python_dir; // holds sitecustomize.py
    std::filesystem::path shim;       // libracehunt_shim.so (may be absent)
    static Injectors locate();        // next to the executable, or $RACEHUNT_DATA_DIR
};

struct CampaignConfig {
    Scenario scenario;
    std::string scenario_arg; // the path as the user typed it, for replay commands
    std::string profile = "default";
    JitterSpec jitter;        // the scenario's per-key overrides (empty under --profile)
    bool profile_from_cli = false;
    std::string python_arg;   // as given (scenario or --python)
    bool python_from_cli = false;
    std::filesystem::path python; // resolved executable: the interpreter that really runs
    // When python_arg found a wrapper that execs another interpreter (pyenv's shim): the
    // wrapper, and what it passes that interpreter, which runs start directly.
    std::filesystem::path python_wrapper; // empty: python_arg is the interpreter itself
    std::vector<std::string> python_options; // interpreter options the wrapper adds
    std::map<std::string, std::optional<std::string>> python_env; // set (or unset) by it
    std::string python_version;   // "3.11.7", from asking it
    std::uint64_t runs = 100;
    int jobs = 1;
    std::uint64_t campaign_seed = 0;
    Nanos timeout{0};
    bool timeout_from_cli = false;
    std::optional<std::uint64_t> stop_after;
    std::optional<Nanos> time_budget;
    std::filesystem::path out_dir;
    std::optional<std::filesystem::path> json_file;
    std::optional<std::filesystem::path> junit_file;
    std::optional<double> fail_threshold; // --fail-threshold
    std::optional<std::filesystem::path> resume; // --resume: the results.jsonl to continue
    Injectors injectors;
    std::vector<std::string> focus; // the workload's own code, resolved
    // --native-stacks: the gdb to run on every process of a hung run before the kill;
    // empty when not asked for.
    std::filesystem::path gdb;
    // --pins (replay) or a minimize candidate: apply only these perturbations of the seed.
    std::shared_ptr<const Pins> pins;
    std::string pins_arg; // the file as given, for replay commands
    // With pins: trace every visit of focus code (trace-<pid>.log), so that a failing run
    // of the pinned set gets a readable interleaving. Off for minimize's candidates.
    bool trace = false;
    // How runs start: "fresh" (a new interpreter per run) or "fork-server" (forked from a
    // server that imported the bootstrap and `preload` once). --start, else run.start.
    std::string start = "fresh";
    bool start_from_cli = false; // --start was given (replay commands carry it over)
    // run.preload: dotted module names the fork server imports once before forking runs.
    std::vector<std::string> preload;
    // Stop early when the first runs all fail the same way for a reason that is the
    // configuration's (a missing module, an invariant that cannot be evaluated, a usage
    // error); off with --no-config-check.
    bool config_check = true;
};

// How printed commands name racehunt: "racehunt" when the running binary is the one PATH
// finds, else the path it was started by (argv[0] holding a '/'), else its absolute path.
// main() records argv[0] first.
void set_invocation(const std::string& argv0);
std::string program_for_commands();

// The command that re-creates run `seed` of this campaign (options that change a run's
// behaviour are carried over; output options are not). execute_run puts it in every failing
// record (RunRecord::replay), where reporters read it.
std::string replay_command(const CampaignConfig& c, std::uint64_t seed);

// The command that continues an interrupted campaign from its results file.
std::string resume_command(const CampaignConfig& c, const std::filesystem::path& results);

// Everything about one run, decided before it starts: a pure function of config and seed.
struct RunPlan {
    std::uint64_t index = 0, seed = 0;
    JitterPlan jitter;
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
    std::filesystem::path cwd;
};
RunPlan plan_run(const CampaignConfig& c, std::uint64_t index, std::uint64_t seed,
                 const std::filesystem::path& run_dir);

// Executes one run: prepares its directory, runs the tree (with hang forensics before a
// kill), reads the directory, judges, files a failure's artifacts; a failing record carries
// its replay command. A cancelled run leaves nothing behind and comes back with `cancelled`
// set.
struct ExecutedRun {
    RunRecord record;
    bool cancelled = false;
};
ExecutedRun execute_run(const CampaignConfig& c, ProcessRunner& runner, std::uint64_t index,
                        std::uint64_t seed, Cancellation& cancel);

// The runner of a campaign: fresh starts, or fork-server starts (start = "fork-server")
// when the workload allows them; `note` says why a fork-server campaign starts fresh. The
// first fork server is started here, so a preload it refuses is a usage error (util::Error)
// before any run.
std::unique_ptr<ProcessRunner> make_runner(const CampaignConfig& c, std::string& note,
                                           const Cancellation* cancel = nullptr);

// A new campaign (not --resume) into a directory that holds another campaign's results
// moves that campaign's files (results.jsonl, summary.json, failures/) to the
// first free DIR.previous-N and returns it, so no two campaigns mix. Throws util::Error
// (Usage) when they cannot be moved.
std::optional<std::filesystem::path> set_aside_previous_campaign(const std::filesystem::path& out_dir);

// Resolves an interpreter or program name: a path (relative to `base`) or a name on PATH.
std::optional<std::filesystem::path> find_executable(const std::string& name,
                                                     const std::filesystem::path& base,
                                                     const std::string& path_var);

} // namespace racehunt

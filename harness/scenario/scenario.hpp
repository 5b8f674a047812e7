// Scenario file v1 (docs/SCENARIO.md): the TOML a user writes, as a validated value.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace racehunt {

using Nanos = std::chrono::nanoseconds;

enum class WorkloadKind { Script, Module, Pytest, Command };

// "keep" (nullopt value with keep=true), "random", or a fixed number of seconds.
struct SwitchInterval {
    enum class Kind { Keep, Random, Fixed } kind = Kind::Keep;
    double seconds = 0; // when Fixed
    bool operator==(const SwitchInterval&) const = default;
};

struct JitterSpec {
    std::optional<std::string> profile; // none | default | aggressive
    std::optional<SwitchInterval> switch_interval;
    std::optional<double> shim_probability;
    std::optional<Nanos> shim_max_delay;
    std::optional<bool> shim_starvation;
    std::optional<bool> shim_startup; // perturb interpreter start-up too (not armed late)
    std::optional<double> yield_probability;
    std::optional<std::string> yield_granularity; // line | opcode | call
    std::optional<double> yield_sites;            // chance of a yield at a site's first visit
    // native (default): yields only where the interpreter under test can switch threads by
    // itself (docs/SWITCH_POINTS.md); free-threaded: anywhere.
    std::optional<std::string> yield_semantics;
    std::optional<std::vector<std::string>> yield_focus;
    // [jitter.asyncio]: chance that an event-loop iteration's ready tasks are shuffled, and
    // that a task's resumption is deferred by one or more iterations.
    std::optional<double> loop_shuffle;
    std::optional<double> loop_defer;
    std::optional<std::string> mode;     // noise | controlled
    std::optional<std::string> strategy; // random | pct (controlled mode)
    std::optional<std::int64_t> depth;   // pct's depth
    std::optional<std::int64_t> max_steps; // controlled: scheduling points before control is released
    bool operator==(const JitterSpec&) const = default;
};

struct CheckSpec {
    int exit_code = 0;
    std::string thread_exceptions = "fail"; // fail | ignore
    std::vector<std::string> invariants;
    std::string leaked_threads = "fail"; // fail | warn | ignore
    std::optional<std::uint64_t> max_memory_growth; // bytes; tracemalloc in the root process
    // "Task exception was never retrieved", a task destroyed while pending, a coroutine
    // never awaited.
    std::string asyncio_warnings = "warn"; // fail | warn | ignore
    bool operator==(const CheckSpec&) const = default;
};

struct RunSpec {
    std::optional<std::int64_t> runs; // default 100
    std::optional<std::int64_t> jobs; // 0 = number of cores
    std::optional<std::uint64_t> seed;
    std::optional<std::string> start; // fresh | fork-server; absent = fresh
    // Dotted module names the fork server imports once, before it forks runs (only
    // fork-server starts use them); no duplicates.
    std::vector<std::string> preload;
    // Limits of one run: processes alive at once in its tree (a pids cgroup when racehunt
    // can make one, else RLIMIT_NPROC) and each process's address space (RLIMIT_AS, bytes).
    std::optional<std::int64_t> max_processes;
    std::optional<std::uint64_t> memory_limit;
    bool operator==(const RunSpec&) const = default;
};

struct Location {
    std::string file;
    int line = 0, column = 0;
    std::string str() const; // "file:line:col", or "file" when the position is unknown
};

struct Scenario {
    std::filesystem::path file; // absolute path of the TOML file
    std::filesystem::path dir;  // its directory; relative paths resolve against it
    std::string name;           // default: the file stem (or the directory for scenario.toml)
    std::string description;

    WorkloadKind kind = WorkloadKind::Script;
    std::string target;               // script path / module / pytest node, as written
    std::vector<std::string> command; // when kind == Command
    std::vector<std::string> args;
    std::vector<std::string> python = {"python3"}; // one entry, or a version matrix
    std::string cwd = ".";
    std::map<std::string, std::string> env;
    Nanos timeout = std::chrono::seconds(10);

    JitterSpec jitter;
    CheckSpec check;
    RunSpec run;

    // Where each key was written ("workload.script" -> file:line:col), for later errors.
    std::map<std::string, Location> locations;

    Location where(const std::string& key) const;
    std::filesystem::path resolved_cwd() const;
    // Equality ignores the bookkeeping fields (file, dir, locations).
    bool same_content(const Scenario& other) const;
};

// Parses and validates TOML text. `file` names the source in errors and anchors relative
// paths. Throws util::Error (kind Usage) naming file:line:col, the key and a fix.
Scenario parse_scenario(std::string_view text, const std::filesystem::path& file);

// Reads and parses a scenario file.
Scenario load_scenario(const std::filesystem::path& file);

// Checks what parsing cannot: that the script exists, the cwd is a directory. Throws
// util::Error naming the key's location.
void check_scenario_files(const Scenario& s);

// Renders a scenario as TOML that parse_scenario reads back to the same content.
std::string scenario_to_toml(const Scenario& s);

const char* to_string(WorkloadKind k);

// workload.pytest as racehunt gives it to pytest: its file made absolute against the
// scenario's directory, the "::test" part kept.
std::string pytest_node(const Scenario& s);

} // namespace racehunt

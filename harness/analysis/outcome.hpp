// Deciding what happened in a run: from the process's fate and the injectees' reports to
// an outcome, a signature that buckets like failures together, and reasons a human reads.
#pragma once
#include "run/process_runner.hpp"
#include "scenario/scenario.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

enum class Outcome { Pass, Fail, Hang, Crash, Error };
const char* to_string(Outcome o);
std::optional<Outcome> outcome_from_string(const std::string& s);
inline bool is_failure(Outcome o) { return o != Outcome::Pass; }

struct Frame {
    std::string file;
    int line = 0;
    std::string function;
};

struct ExceptionReport {
    std::string thread;
    bool main = false;
    std::string type;
    std::string message;
    std::vector<Frame> frames; // innermost last
};

struct InvariantReport {
    std::string expr;
    bool ok = false;
    std::string value;
    std::string error;
};

struct ThreadInfo {
    std::string name;
    bool daemon = false;
};

// What the bootstrap of one Python process wrote (py-<pid>.jsonl).
struct PyProcessReport {
    int pid = 0, ppid = 0;
    std::string role;
    std::string python;
    std::vector<std::string> argv;
    // The command line a forked run stands for (its /proc cmdline is its fork server's).
    std::vector<std::string> command;
    std::optional<double> switch_interval;
    std::string yields_mechanism;
    std::vector<ExceptionReport> exceptions;
    std::vector<ExceptionReport> check_failures; // racehunt.check(...) that failed
    bool main_done = false;
    std::vector<ThreadInfo> leaked_threads;
    std::vector<InvariantReport> invariants;
    bool exited = false;
    nlohmann::json counters = nlohmann::json::object();
    std::vector<std::string> warnings;
    // Every thread's stack at the first Python-level failure of this process (an uncaught
    // exception, a failed racehunt.check, a broken invariant): {"event", "ident" of the
    // failing thread (absent for invariants), "threads": [...]}; null when none.
    nlohmann::json failure_snapshot;
    // [check].max_memory_growth: the `memory` event ({traced, limit, exceeded, top}).
    nlohmann::json memory;
    // `asyncio_warning` events: an exception no one retrieved from a task or future, a task
    // destroyed while pending, a coroutine never awaited.
    struct AsyncioWarning {
        std::string kind, message, task, coroutine, type, exception;
        std::vector<Frame> frames; // innermost last
    };
    std::vector<AsyncioWarning> asyncio_warnings;
};

// Reads every py-*.jsonl in a run directory; a truncated last line is ignored.
std::vector<PyProcessReport> read_py_reports(const std::filesystem::path& run_dir);

struct Verdict {
    Outcome outcome = Outcome::Pass;
    std::string signature;            // empty for pass
    std::vector<std::string> reasons; // one line each, most important first
    std::vector<std::string> warnings;
    bool injected = true; // false: a Python process of the run never loaded the bootstrap
};

// `root_is_python`: racehunt started the interpreter itself (script, module, pytest), so a
// missing report from the root means the bootstrap was not loaded.
Verdict classify(const RunResult& run, const std::vector<PyProcessReport>& reports,
                 const CheckSpec& check, bool root_is_python);

} // namespace racehunt

// What a run can end as, and what the bootstrap of each Python process reported
// (py-<pid>.jsonl, read by analysis/run_dir.hpp). The verdict is analysis/verdict.hpp.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace racehunt {

// `slow`: past its timeout only because racehunt's perturbation slowed it (it was busy at
// the timeout, and finished and passed once calmed): neither a pass nor a failure.
enum class Outcome { Pass, Fail, Hang, Crash, Slow, Error };
// Every outcome, in the order reports list them.
inline constexpr Outcome kOutcomes[] = {Outcome::Pass, Outcome::Fail,  Outcome::Hang,
                                        Outcome::Crash, Outcome::Slow, Outcome::Error};
const char* to_string(Outcome o);
std::optional<Outcome> outcome_from_string(const std::string& s);
inline bool is_failure(Outcome o) { return o != Outcome::Pass && o != Outcome::Slow; }

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
    // yields.focus entries that matched no code this process ran (its `exit` event; absent
    // when Python yield points were off).
    std::optional<std::vector<std::string>> focus_unmatched;
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

} // namespace racehunt

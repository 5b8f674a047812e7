// N runs over -j workers, with early stop, a time budget and interruption. Knows nothing
// of processes: each task is a callback, so tests drive it with a scripted fake.
#pragma once
#include "run/process_runner.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace racehunt {

struct PoolOptions {
    int jobs = 1;
    std::optional<std::uint64_t> stop_after; // stop once this many runs failed
    std::optional<Nanos> time_budget;        // start no run after this; cancel those in flight
    Nanos progress_interval = std::chrono::milliseconds(200);
};

struct TaskResult {
    bool cancelled = false; // the run was cut short and is not counted
    bool failed = false;
    bool stop = false; // the task's outcome ends the campaign: start no more, cancel the rest
};

struct PoolProgress {
    std::uint64_t total = 0, done = 0, failed = 0, running = 0;
    Nanos elapsed{0};
    bool finished = false;
};

enum class StopReason { Completed, StopAfter, TimeBudget, Cancelled, Stopped };

struct PoolSummary {
    std::uint64_t done = 0, failed = 0, cancelled = 0, not_started = 0;
    StopReason reason = StopReason::Completed;
    Nanos elapsed{0};
};

// Runs tasks 0..n-1 (in order of start) on `jobs` threads. `execute` must be thread-safe.
// `progress` is called from one thread only, periodically and once at the end.
// `cancel` may be triggered from outside (Ctrl-C); the pool triggers it itself for
// --stop-after and --time-budget, and when a task's result asks to stop (Stopped).
PoolSummary run_pool(std::uint64_t n, const PoolOptions& options,
                     const std::function<TaskResult(std::uint64_t, Cancellation&)>& execute,
                     Cancellation& cancel,
                     const std::function<void(const PoolProgress&)>& progress = {});

const char* to_string(StopReason r);

} // namespace racehunt

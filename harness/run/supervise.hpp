// What every way of starting a run shares: the run's pipes, its supervision (timeout,
// cancellation, stack dumps, killing the whole tree, reaping) and its result. Only the
// spawn differs: a fresh exec (spawn_fresh) or a fork of a fork server (fork_server.cpp).
#pragma once
#include "run/limits.hpp"
#include "run/process_runner.hpp"
#include "run/reaper.hpp"

#include <functional>
#include <memory>

namespace racehunt {

// Starts the run's root with stdout/stderr on `out_sink`/`err_sink` (the caller closes its
// own copies afterwards), in a process group of its own whose id is the returned pid, and
// arranges for the root's status to reach `watch`. May note facts about the start in the
// result (start mode, warnings). The root must apply `limits` before the workload starts.
// Throws std::exception when nothing could be started.
using SpawnFn = std::function<pid_t(int out_sink, int err_sink, const std::shared_ptr<ExitWatch>& watch,
                                    const RunLimits& limits, RunResult& result)>;

RunResult supervise_run(const RunRequest& req, Cancellation& cancel, const SpawnFn& spawn);

// In a child between (v)fork and exec, async-signal-safe calls only: its own process group,
// no blocked signals, SIGPIPE at its default (what a process started from a shell has).
void reset_child_before_exec();

// The fresh start: fork/exec (vfork) of req.argv with req.env in req.cwd, stdin /dev/null.
pid_t spawn_fresh(const RunRequest& req, int out_sink, int err_sink,
                  const std::shared_ptr<ExitWatch>& watch, const RunLimits& limits);

} // namespace racehunt

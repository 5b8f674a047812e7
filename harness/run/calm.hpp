// A run at its timeout: stuck, or slowed by racehunt's own perturbation? A run that is busy
// (its processes use CPU time) is calmed: racehunt's perturbation is turned off in every
// process of the run and the run gets a grace period. One that then finishes and passes
// was slowed, not stuck (outcome `slow`); one that does not is a hang. A run whose
// processes are idle (blocked on locks, joins, queues, sleeps) is stuck and is a hang at
// once. docs/PROTOCOL.md, "Calm", has the files; docs/ARCHITECTURE.md the rule.
#pragma once
#include "run/process_runner.hpp"

#include <sys/types.h>

#include <filesystem>
#include <vector>

namespace racehunt {

// CPU time (user + system) the processes have used so far; a process that is gone
// counts nothing.
Nanos cpu_time(const std::vector<pid_t>& pids);

struct CalmPolicy {
    Nanos window = std::chrono::milliseconds(300); // how long the CPU time is watched
    double busy_share = 0.2;                       // of one CPU over the window: busy
    Nanos grace{0};                                // time given to a calmed run
};

// The policy for a run with this timeout: the window is a twentieth of it (100-300 ms),
// the grace half of it (2-30 s).
CalmPolicy calm_policy(Nanos timeout);

// Writes `calm` into the run directory (the Python injectors stop their yield points and
// asyncio perturbations when they next look) and disarms the preload shim of each member
// through its counters file.
void calm_run(const std::filesystem::path& run_dir, const std::vector<pid_t>& members, Nanos cpu,
              Nanos window);

// RunRequest::on_timeout for a perturbed run: watches the members' CPU time for the window;
// idle -> zero (kill now), busy -> calms the run and returns the grace.
Nanos calm_or_kill(const std::filesystem::path& run_dir, const std::vector<pid_t>& members,
                   const CalmPolicy& policy);

} // namespace racehunt

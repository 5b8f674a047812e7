// Jitter profiles: from a profile name, the scenario's overrides and a run seed to the
// concrete perturbation choices of one run. A pure function, so replay re-creates them.
#pragma once
#include "protocol.h"
#include "scenario/scenario.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct ShimPlan {
    bool enabled = false;
    double probability = 0;   // chance of a perturbation at a sync point
    double delay_share = 0.5; // share of perturbations that sleep rather than sched_yield
    std::int64_t max_delay_ns = 0;
    double wake_probability = 0; // yield after sem_post / cond_signal / mutex_unlock
    bool starvation = false;
    std::int64_t starve_max_ns = 0;
    double starve_share = 0;
    bool pinned = false; // perturb only at pinned decisions (shim-pins.bin, option pins=1)
    // Python processes are armed when their workload starts; with `startup`, from load, so
    // that interpreter start-up and imports are perturbed too.
    bool startup = false;
    bool operator==(const ShimPlan&) const = default;
};

struct YieldPlan {
    double probability = 0; // 0: no Python yield points
    std::string granularity = RACEHUNT_DEFAULT_YIELDS_GRANULARITY;
    std::vector<std::string> focus; // resolved entries (docs/PROTOCOL.md)
    bool widened = false;           // focus widened beyond the workload's own files
    // Chance that the first visit of a code site (a line, or an instruction at opcode
    // granularity) yields; visit n of a site yields with sites / (n + 1), so code that runs
    // once (initialisation, a first call) gets yields in most runs and a hot loop a few.
    double sites = 0;
    std::size_t pinned = 0;         // with pins: the visits pinned (nothing else yields)
    // "native": only where the interpreter can switch threads by itself; "free-threaded":
    // anywhere (docs/SWITCH_POINTS.md).
    std::string semantics = "native";
    bool operator==(const YieldPlan&) const = default;
};

// The asyncio layer (docs/PROTOCOL.md, "asyncio"): in every event loop of the run, the
// chance that an iteration's ready tasks are shuffled, and that a ready task's resumption
// is deferred by one or more iterations. Inert in processes that never import asyncio.
struct LoopPlan {
    double shuffle = 0;
    double defer = 0;
    std::size_t pinned = 0; // with pins: the loop decisions pinned (nothing else is decided)
    bool active() const { return shuffle > 0 || defer > 0 || pinned > 0; }
    bool operator==(const LoopPlan&) const = default;
};

// Controlled mode: one Python thread at a time, the next chosen by a seeded strategy.
struct ControlPlan {
    std::string strategy = RACEHUNT_DEFAULT_CONTROL_STRATEGY; // pct | random
    int depth = RACEHUNT_DEFAULT_CONTROL_DEPTH; // pct: priority change points + 1
    // Scheduling points after which control is released and the run goes on in noise mode:
    // controlled runs of hot loops cost about 6 us per point and would outlive their time
    // limit (a false alarm). A count, not a time, so that a replay releases at the same step.
    std::int64_t max_steps = RACEHUNT_DEFAULT_CONTROL_MAX_STEPS;
    bool operator==(const ControlPlan&) const = default;
};

struct JitterPlan {
    std::string profile;
    std::optional<ControlPlan> control; // set: controlled mode (the noise layers are off)
    std::optional<double> switch_interval; // nullopt: keep the interpreter's default
    ShimPlan shim;
    std::optional<std::size_t> pinned;     // with pins: how many perturbations are pinned
    YieldPlan yields;
    LoopPlan loop;
    bool operator==(const JitterPlan&) const = default;

    nlohmann::json to_json() const;
    // The RACEHUNT_SHIM option string for this run (docs/SHIM_OPTIONS.md).
    std::string shim_options(std::uint64_t run_seed) const;
};

bool is_profile_name(const std::string& name);

// Resolves a run's concrete jitter. `spec` holds the scenario's explicit keys (they override
// what the profile would draw); `own_focus` is the workload's own code (the default focus).
JitterPlan plan_jitter(const std::string& profile, const JitterSpec& spec, std::uint64_t run_seed,
                       const std::vector<std::string>& own_focus);

// Turns focus entries as users write them (paths relative to the scenario, module names,
// globs) into the resolved forms of docs/PROTOCOL.md.
std::vector<std::string> resolve_focus(const Scenario& s, const std::vector<std::string>& entries);

// The workload's own code: the scenario directory, and the script's directory if elsewhere.
std::vector<std::string> default_focus(const Scenario& s);

} // namespace racehunt

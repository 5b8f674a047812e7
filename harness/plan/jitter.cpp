#include "plan/jitter.hpp"

#include "plan/seeds.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace racehunt {

namespace fs = std::filesystem;

bool is_profile_name(const std::string& name) {
    return name == "none" || name == "default" || name == "aggressive";
}

namespace {

// The switch interval range: 1 us is where CPython's eval breaker checks become the limit;
// 5 ms is CPython's default.
constexpr double kMinInterval = 1e-6;
constexpr double kMaxInterval = 5e-3;

void draw_default(JitterPlan& p, std::uint64_t seed, const std::vector<std::string>& own, bool explicit_focus) {
    // `default` is a portfolio: each run draws its own regime, so a campaign of a few hundred
    // runs covers many. Each layer draws from its own stream, so overriding one layer in the
    // scenario leaves the others' draws unchanged.
    SeedStream si(seed, "switch_interval");
    if (si.chance(0.85))
        p.switch_interval = si.log_uniform(kMinInterval, kMaxInterval);

    // A focus the scenario names is where the user suspects the race: yields there in 90%
    // of runs, at rates that reach a race in threading.py itself (measured on 3.12: 1 failure
    // in 40 runs at the rates used without a focus, 8 in 40 at 0.05), and never widened.
    SeedStream y(seed, "yields");
    if (y.chance(explicit_focus ? 0.9 : 0.6)) {
        p.yields.probability = explicit_focus ? y.log_uniform(1e-2, 1e-1) : y.log_uniform(1e-3, 5e-2);
        p.yields.granularity = y.chance(0.15) ? "opcode" : "line";
        p.yields.focus = own;
        // One-shot code: a site's first visit yields at `sites`, its n-th at sites / n.
        p.yields.sites = SeedStream(seed, "yield_sites").log_uniform(0.05, 0.5);
        if (y.chance(0.15) && !explicit_focus) {
            p.yields.focus.push_back("glob:*");
            p.yields.widened = true;
            p.yields.granularity = "line"; // see draw_aggressive
        }
    }

    // asyncio: inert unless the workload runs an event loop. A run draws one regime:
    // shuffles only, deferrals only, or both (10%). Each half costs a loop-bound workload
    // about 1.2x at its typical rate, both together 1.5x (bench/RESULTS.md); shuffles reach
    // reorderings within an iteration, deferrals reach across iterations.
    SeedStream lp(seed, "asyncio");
    const double regime = lp.uniform();
    if (regime >= 0.2) {
        if (regime < 0.55 || regime >= 0.9)
            p.loop.shuffle = lp.log_uniform(0.05, 1.0);
        if (regime >= 0.55)
            p.loop.defer = lp.log_uniform(0.01, 0.3);
    }

    // The shim's budget: a GIL-bound workload at a 2 us switch interval makes tens of
    // thousands of mutex and condition-variable calls a second, so probability times
    // delay must stay small or a run slows past its timeout (measured: p = 0.17 with
    // delays up to 1.8 ms held the locked bank account for over 10 s).
    SeedStream sh(seed, "shim");
    if (sh.chance(0.5)) {
        p.shim.enabled = true;
        p.shim.probability = sh.log_uniform(1e-4, 0.03);
        p.shim.delay_share = sh.uniform(0.2, 0.8);
        p.shim.max_delay_ns = static_cast<std::int64_t>(sh.log_uniform(5e3, 300e3));
        p.shim.wake_probability = sh.log_uniform(1e-4, 0.03);
        if (sh.chance(0.25)) {
            p.shim.starvation = true;
            p.shim.starve_max_ns = static_cast<std::int64_t>(sh.log_uniform(1e6, 20e6));
            p.shim.starve_share = 0.2;
        }
    }
}

void draw_aggressive(JitterPlan& p, std::uint64_t seed, const std::vector<std::string>& own) {
    // Every layer on, at rates that slow a run several-fold; for when `default` finds nothing.
    SeedStream si(seed, "switch_interval");
    p.switch_interval = si.log_uniform(kMinInterval, 1e-4);

    SeedStream y(seed, "yields");
    p.yields.probability = y.log_uniform(1e-2, 0.1);
    p.yields.granularity = y.chance(0.3) ? "opcode" : "line";
    p.yields.sites = SeedStream(seed, "yield_sites").log_uniform(0.2, 1.0);
    p.yields.focus = own;
    if (y.chance(0.3)) {
        p.yields.focus.push_back("glob:*");
        p.yields.widened = true;
    }
    // Opcode yield points over every module (the stdlib included) slowed the locked bank
    // account past its 10 s timeout on a loaded 2-core machine (measured: seed
    // 55447f2b5a99957b, 675,000 sync-point calls): widened focus is traced by line only.
    if (p.yields.widened)
        p.yields.granularity = "line";

    SeedStream lp(seed, "asyncio");
    p.loop.shuffle = lp.chance(0.5) ? 1.0 : lp.log_uniform(0.3, 1.0);
    p.loop.defer = lp.log_uniform(0.05, 0.5);

    SeedStream sh(seed, "shim");
    p.shim.enabled = true;
    p.shim.probability = sh.log_uniform(1e-3, 0.05);
    p.shim.delay_share = sh.uniform(0.3, 0.9);
    p.shim.max_delay_ns = static_cast<std::int64_t>(sh.log_uniform(20e3, 500e3));
    p.shim.wake_probability = sh.log_uniform(1e-3, 0.05);
    if (sh.chance(0.5)) {
        p.shim.starvation = true;
        p.shim.starve_max_ns = static_cast<std::int64_t>(sh.log_uniform(1e6, 50e6));
        p.shim.starve_share = 0.3;
    }
}

} // namespace

JitterPlan plan_jitter(const std::string& profile, const JitterSpec& spec, std::uint64_t seed,
                       const std::vector<std::string>& own_focus) {
    JitterPlan p;
    p.profile = profile;
    if (profile == "default")
        draw_default(p, seed, own_focus, spec.yield_focus.has_value());
    else if (profile == "aggressive")
        draw_aggressive(p, seed, own_focus);

    // The scenario's explicit keys win over the profile's draws.
    if (auto si = spec.switch_interval) {
        if (si->kind == SwitchInterval::Kind::Keep)
            p.switch_interval.reset();
        else if (si->kind == SwitchInterval::Kind::Fixed)
            p.switch_interval = si->seconds;
        else
            p.switch_interval =
                SeedStream(seed, "switch_interval").log_uniform(kMinInterval, kMaxInterval);
    }
    if (spec.shim_probability) {
        p.shim.probability = *spec.shim_probability;
        p.shim.enabled = *spec.shim_probability > 0;
        if (p.shim.wake_probability == 0)
            p.shim.wake_probability = *spec.shim_probability;
    }
    if (spec.shim_max_delay) {
        p.shim.max_delay_ns = spec.shim_max_delay->count();
    } else if (p.shim.enabled && p.shim.max_delay_ns == 0) {
        p.shim.max_delay_ns = 200'000;
    }
    if (spec.shim_starvation) {
        p.shim.starvation = *spec.shim_starvation;
        if (p.shim.starvation && p.shim.starve_max_ns == 0) {
            p.shim.starve_max_ns = 10'000'000;
            p.shim.starve_share = 0.2;
        }
    }
    if (spec.shim_startup)
        p.shim.startup = *spec.shim_startup;
    if (spec.yield_probability)
        p.yields.probability = *spec.yield_probability;
    if (spec.yield_granularity)
        p.yields.granularity = *spec.yield_granularity;
    if (spec.yield_sites)
        p.yields.sites = *spec.yield_sites;
    if (spec.yield_semantics)
        p.yields.semantics = *spec.yield_semantics;
    if (spec.yield_focus) {
        p.yields.focus = *spec.yield_focus;
        p.yields.widened = false;
    } else if (p.yields.probability > 0 && p.yields.focus.empty())
        p.yields.focus = own_focus;
    if (p.yields.probability == 0) {
        p.yields.focus.clear();
        p.yields.sites = 0;
    }
    if (spec.loop_shuffle)
        p.loop.shuffle = *spec.loop_shuffle;
    if (spec.loop_defer)
        p.loop.defer = *spec.loop_defer;
    if (spec.mode && *spec.mode == "controlled") {
        // One thread runs at a time, so the noise layers have nothing to perturb: the
        // scheduler takes every focus line as a scheduling point instead.
        ControlPlan c;
        c.strategy = spec.strategy.value_or(c.strategy);
        c.depth = static_cast<int>(spec.depth.value_or(c.depth));
        c.max_steps = spec.max_steps.value_or(c.max_steps);
        p.control = c;
        p.switch_interval.reset();
        p.shim = ShimPlan{};
        p.loop = LoopPlan{};
        p.yields.probability = 1.0;
        p.yields.sites = 0; // every visit is a scheduling point already
        // Scheduling points per line by default; "opcode" reaches races inside one line
        // (`n += 1`) at the price of many more steps.
        p.yields.granularity = spec.yield_granularity.value_or(RACEHUNT_DEFAULT_YIELDS_GRANULARITY);
        // The scenario's focus, or the workload's own code: never the profile's draw,
        // which cleared the focus above when it had switched yields off.
        p.yields.focus = spec.yield_focus ? *spec.yield_focus : own_focus;
        p.yields.widened = false;
    }
    // CPython keeps the switch interval in whole microseconds: plan what the interpreter
    // will really use, so the recorded value and the applied one are the same number.
    if (p.switch_interval)
        p.switch_interval = std::max(1.0, std::round(*p.switch_interval * 1e6)) / 1e6;
    return p;
}

nlohmann::json JitterPlan::to_json() const {
    nlohmann::json j;
    j["profile"] = profile;
    j["switch_interval"] = switch_interval ? nlohmann::json(*switch_interval) : nlohmann::json();
    nlohmann::json s;
    s["enabled"] = shim.enabled;
    if (shim.enabled) {
        s["probability"] = shim.probability;
        s["delay_share"] = shim.delay_share;
        s["max_delay_ns"] = shim.max_delay_ns;
        s["wake_probability"] = shim.wake_probability;
        s["starvation"] = shim.starvation;
        if (shim.starvation) {
            s["starve_max_ns"] = shim.starve_max_ns;
            s["starve_share"] = shim.starve_share;
        }
        if (shim.pinned)
            s["pinned"] = true;
        if (shim.startup)
            s["startup"] = true;
    }
    j["shim"] = s;
    nlohmann::json y;
    y["probability"] = yields.probability;
    if (yields.probability > 0) {
        y["granularity"] = yields.granularity;
        y["focus"] = yields.focus;
        y["widened"] = yields.widened;
        if (yields.sites > 0)
            y["sites"] = yields.sites;
        if (yields.semantics != "native")
            y["semantics"] = yields.semantics;
        if (pinned)
            y["pinned"] = yields.pinned;
    }
    j["yields"] = y;
    if (loop.active()) {
        j["asyncio"] = {{"shuffle", loop.shuffle}, {"defer", loop.defer}};
        if (loop.pinned)
            j["asyncio"]["pinned"] = loop.pinned;
    }
    if (control)
        j["control"] = {{"strategy", control->strategy}, {"depth", control->depth}, {"max_steps", control->max_steps}};
    if (pinned)
        j["pinned"] = *pinned;
    return j;
}

std::string JitterPlan::shim_options(std::uint64_t seed) const {
    std::string o = "enabled=" + std::string(shim.enabled ? "1" : "0");
    o += ":seed=" + util::hex64(seed);
    if (!shim.enabled)
        return o;
    // Only Python processes take part: the shells, interpreter wrappers (pyenv's shim runs
    // about 40 processes) and tools a run starts keep their own timing and leave no trace.
    o += ":python_only=1";
    // Python processes are armed by their bootstrap once the interpreter has started:
    // start-up makes thousands of mutex calls that are no part of the workload (and, with
    // the shim active, start-up took 17.9 ms instead of 7.8). `startup` asks for them too.
    if (!shim.startup)
        o += ":arm_python=1";
    o += ":p=" + util::format_double(shim.probability);
    o += ":delay_share=" + util::format_double(shim.delay_share);
    o += ":max_delay_ns=" + std::to_string(shim.max_delay_ns);
    o += ":wake_p=" + util::format_double(shim.wake_probability);
    o += ":starve=" + std::string(shim.starvation ? "1" : "0");
    if (shim.starvation) {
        o += ":starve_max_ns=" + std::to_string(shim.starve_max_ns);
        o += ":starve_share=" + util::format_double(shim.starve_share);
    }
    if (shim.pinned)
        o += ":pins=1";
    return o;
}

std::vector<std::string> resolve_focus(const Scenario& s, const std::vector<std::string>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) {
        if (util::starts_with(e, "module:") || util::starts_with(e, "glob:")) {
            out.push_back(e);
            continue;
        }
        bool has_glob = e.find_first_of("*?[") != std::string::npos;
        bool looks_like_path = e.find('/') != std::string::npos ||
                               (e.size() > 3 && e.substr(e.size() - 3) == ".py") || e == ".";
        fs::path p(e);
        if (has_glob) {
            // A relative glob is anchored at the scenario's directory, like relative paths.
            out.push_back("glob:" + (p.is_absolute() ? e : (s.dir / e).lexically_normal().string()));
        } else if (looks_like_path || fs::exists(s.dir / p)) {
            fs::path full = (p.is_absolute() ? p : s.dir / p).lexically_normal();
            std::string str = full.string();
            std::error_code ec;
            if (fs::is_directory(full, ec) && (str.empty() || str.back() != '/'))
                str += '/';
            out.push_back(str);
        } else {
            out.push_back("module:" + e); // a dotted module or package name
        }
    }
    return out;
}

std::vector<std::string> default_focus(const Scenario& s) {
    std::vector<std::string> own;
    own.push_back(s.dir.lexically_normal().string() + "/");
    if (s.kind == WorkloadKind::Script) {
        fs::path p(s.target);
        fs::path full = (p.is_absolute() ? p : s.dir / p).lexically_normal();
        std::string d = full.parent_path().string() + "/";
        if (!util::starts_with(d, own[0]))
            own.push_back(d);
    }
    std::string cwd = s.resolved_cwd().string() + "/";
    bool covered = false;
    for (const auto& o : own)
        covered = covered || util::starts_with(cwd, o);
    if (!covered)
        own.push_back(cwd);
    return own;
}

} // namespace racehunt

#include "campaign/campaign.hpp"
#include "campaign/filing.hpp"

#include "analysis/dump.hpp"
#include "analysis/run_dir.hpp"
#include "analysis/verdict.hpp"
#include "run/calm.hpp"
#include "run/fork_server.hpp"
#include "run/forensics.hpp"

#include "protocol.h"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fstream>

#include <sys/statvfs.h>
#include <unistd.h>

extern char** environ;

namespace racehunt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path self_exe() {
    std::error_code ec;
    fs::path p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path("racehunt") : p;
}

std::string& invoked_as() {
    static std::string name;
    return name;
}

bool write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    return static_cast<bool>(out);
}

} // namespace

Injectors Injectors::locate() {
    Injectors i;
    std::vector<fs::path> roots;
    if (const char* d = std::getenv("RACEHUNT_DATA_DIR"))
        roots.emplace_back(d);
    fs::path exe_dir = self_exe().parent_path();
    roots.push_back(exe_dir);
    roots.push_back(exe_dir / ".." / "lib" / "racehunt");
    std::error_code ec;
    for (const auto& r : roots) {
        if (i.python_dir.empty() && fs::exists(r / "python" / "sitecustomize.py", ec))
            i.python_dir = fs::canonical(r / "python", ec);
        if (i.shim.empty() && fs::exists(r / "libracehunt_shim.so", ec))
            i.shim = fs::canonical(r / "libracehunt_shim.so", ec);
    }
    return i;
}

std::optional<fs::path> find_executable(const std::string& name, const fs::path& base,
                                        const std::string& path_var) {
    std::error_code ec;
    auto usable = [&](const fs::path& p) {
        return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
    };
    if (name.find('/') != std::string::npos) {
        fs::path p(name);
        if (!p.is_absolute())
            p = base / p;
        p = p.lexically_normal();
        return usable(p) ? std::optional(p) : std::nullopt;
    }
    std::size_t start = 0;
    while (start <= path_var.size()) {
        std::size_t end = path_var.find(':', start);
        if (end == std::string::npos)
            end = path_var.size();
        std::string dir = path_var.substr(start, end - start);
        fs::path p = fs::path(dir.empty() ? "." : dir) / name;
        if (usable(p))
            return fs::absolute(p, ec).lexically_normal();
        start = end + 1;
    }
    return std::nullopt;
}

void set_invocation(const std::string& argv0) {
    invoked_as() = argv0;
}

std::string program_for_commands() {
    static const std::string name = [] {
        std::error_code ec;
        const fs::path self = self_exe();
        const char* path = std::getenv("PATH");
        if (auto on_path = find_executable("racehunt", fs::current_path(ec), path ? path : ""))
            if (fs::equivalent(*on_path, self, ec))
                return std::string("racehunt");
        const std::string& argv0 = invoked_as();
        if (argv0.find('/') != std::string::npos && fs::exists(argv0, ec) && fs::equivalent(argv0, self, ec))
            return argv0;
        return self.string();
    }();
    return name;
}

namespace {

// The options that change what a run does, as the command line gave them.
void add_run_options(const CampaignConfig& c, std::vector<std::string>& argv) {
    if (c.profile_from_cli) {
        argv.push_back("--profile");
        argv.push_back(c.profile);
    }
    if (c.python_from_cli) {
        argv.push_back("--python");
        argv.push_back(c.python_arg);
    }
    if (!c.gdb.empty())
        argv.push_back("--native-stacks");
    if (c.timeout_from_cli) {
        argv.push_back("--timeout");
        argv.push_back(util::format_duration(c.timeout));
    }
    if (!c.config_check)
        argv.push_back("--no-config-check");
    if (c.start_from_cli) {
        argv.push_back("--start");
        argv.push_back(c.start);
    }
}

// The replay command's arguments after the program name.
std::vector<std::string> replay_args(const CampaignConfig& c, std::uint64_t seed) {
    std::vector<std::string> argv = {"replay", c.scenario_arg, "--seed", util::hex64(seed)};
    add_run_options(c, argv);
    if (!c.pins_arg.empty()) {
        argv.push_back("--pins");
        argv.push_back(c.pins_arg);
    }
    return argv;
}

} // namespace

std::string resume_command(const CampaignConfig& c, const fs::path& results) {
    std::vector<std::string> argv = {program_for_commands(), c.scenario_arg, "--resume", results.string()};
    add_run_options(c, argv);
    return util::shell_join(argv);
}

std::string replay_command(const CampaignConfig& c, std::uint64_t seed) {
    auto argv = replay_args(c, seed);
    argv.insert(argv.begin(), program_for_commands());
    return util::shell_join(argv);
}

std::optional<fs::path> set_aside_previous_campaign(const fs::path& out_dir) {
    // What a campaign writes into its directory; anything else there is left alone.
    // (.work/ holds only runs in flight, and a fork server may already be using it.)
    static const char* const ours[] = {"results.jsonl", "summary.json", "failures"};
    std::error_code ec;
    if (!fs::exists(out_dir / "results.jsonl", ec) && !fs::exists(out_dir / "failures", ec))
        return std::nullopt;
    fs::path dest;
    for (int n = 1;; ++n) {
        dest = out_dir.string() + ".previous-" + std::to_string(n);
        if (!fs::exists(dest, ec))
            break;
    }
    fs::create_directories(dest, ec);
    if (ec)
        throw util::usage_error("--out", "cannot set the previous campaign in " + out_dir.string() + " aside: " +
                                             dest.string() + ": " + ec.message(),
                                "choose another --out directory");
    for (const char* name : ours) {
        if (!fs::exists(out_dir / name, ec))
            continue;
        fs::rename(out_dir / name, dest / name, ec);
        if (ec)
            throw util::usage_error("--out", "cannot move " + (out_dir / name).string() + " to " + dest.string() +
                                                 ": " + ec.message(),
                                    "choose another --out directory");
    }
    return dest;
}

RunPlan plan_run(const CampaignConfig& c, std::uint64_t index, std::uint64_t seed,
                 const fs::path& run_dir) {
    const Scenario& s = c.scenario;
    RunPlan p;
    p.index = index;
    p.seed = seed;
    p.jitter = plan_jitter(c.profile, c.jitter, seed, c.focus);
    if (c.pins) {
        // Only the pinned perturbations: the seed's draws still number the decisions, a
        // layer with nothing pinned is off.
        p.jitter.pinned = c.pins->size();
        p.jitter.switch_interval = c.pins->switch_interval;
        if (c.pins->shim.empty())
            p.jitter.shim = ShimPlan{};
        else
            p.jitter.shim.pinned = true;
        p.jitter.yields.sites = 0; // pinned yields come at their visits, nowhere else
        if (c.pins->yields.empty()) {
            p.jitter.yields.probability = 0;
            if (!c.trace)
                p.jitter.yields.focus.clear();
        } else {
            p.jitter.yields.pinned = c.pins->yields.size();
        }
        p.jitter.loop = LoopPlan{};
        p.jitter.loop.pinned = c.pins->loop.size();
    }
    p.cwd = s.resolved_cwd();

    // The environment: racehunt's own, less any outer racehunt's protocol variables, then
    // the scenario's, then the protocol's.
    for (char** e = environ; *e; ++e) {
        std::string entry(*e);
        auto eq = entry.find('=');
        if (eq == std::string::npos || util::starts_with(entry, "RACEHUNT_"))
            continue;
        p.env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [k, v] : s.env)
        p.env[k] = v;
    // The runs start the interpreter a wrapper execs (pyenv's shim) directly, in the
    // environment the wrapper would have given it.
    for (const auto& [k, v] : c.python_env) {
        if (v)
            p.env[k] = *v;
        else
            p.env.erase(k);
    }
    auto prepend = [&](const std::string& key, const std::string& value, char sep) {
        auto it = p.env.find(key);
        p.env[key] = (it == p.env.end() || it->second.empty()) ? value
                                                               : value + sep + it->second;
    };
    if (!c.injectors.python_dir.empty())
        prepend("PYTHONPATH", c.injectors.python_dir.string(), ':');
    if (p.jitter.shim.enabled && !c.injectors.shim.empty())
        prepend("LD_PRELOAD", c.injectors.shim.string(), ':');
    p.env[RACEHUNT_ENV_PROTOCOL] = std::to_string(RACEHUNT_PROTOCOL_VERSION);
    p.env[RACEHUNT_ENV_RUN_DIR] = run_dir.string();
    p.env[RACEHUNT_ENV_RUN_SEED] = util::hex64(seed);
    p.env[RACEHUNT_ENV_RUN_TOKEN] =
        std::to_string(::getpid()) + "-" + std::to_string(index) + "-" + util::hex64(seed);
    p.env[RACEHUNT_ENV_ROLE] = "root";
    p.env[RACEHUNT_ENV_SHIM] = p.jitter.shim_options(seed);
    p.env[RACEHUNT_ENV_DUMP_SIGNAL] = std::to_string(dump_signal());

    const std::string python = c.python.string();
    auto abs_in_dir = [&](const std::string& path) {
        fs::path q(path);
        return (q.is_absolute() ? q : s.dir / q).lexically_normal().string();
    };
    switch (s.kind) {
    case WorkloadKind::Script:
        p.argv = {python, abs_in_dir(s.target)};
        break;
    case WorkloadKind::Module:
        p.argv = {python, "-m", s.target};
        break;
    case WorkloadKind::Pytest: {
        const std::string node = pytest_node(s);
        // Our plugin records a failing test as the run's exception. pytest's own
        // threadexception plugin would swallow exceptions of other threads into warnings;
        // without it the bootstrap's excepthook sees them, as for a script.
        p.argv = {python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_racehunt_pytest",
                  "-p", "no:threadexception", node};
        break;
    }
    case WorkloadKind::Command: {
        p.argv = s.command;
        auto exe = find_executable(s.command[0], s.dir, p.env["PATH"]);
        if (exe)
            p.argv[0] = exe->string();
        break;
    }
    }
    if (s.kind != WorkloadKind::Command)
        p.argv.insert(p.argv.begin() + 1, c.python_options.begin(), c.python_options.end());
    p.argv.insert(p.argv.end(), s.args.begin(), s.args.end());
    return p;
}

std::unique_ptr<ProcessRunner> make_runner(const CampaignConfig& c, std::string& note, const Cancellation* cancel) {
    if (c.start != "fork-server")
        return make_posix_runner();
    if (c.scenario.kind == WorkloadKind::Command) {
        note = "start = \"fork-server\" does not apply to a command workload (racehunt forks "
               "only the Python interpreter it starts itself); runs start fresh";
        return make_posix_runner();
    }
    if (!c.python_options.empty()) {
        note = "start = \"fork-server\" does not apply when the interpreter's wrapper (" +
               c.python_wrapper.string() + ") passes it options (" + util::shell_join(c.python_options) +
               "); runs start fresh";
        return make_posix_runner();
    }
    if (c.injectors.shim.empty() || c.injectors.python_dir.empty()) {
        note = "start = \"fork-server\" needs racehunt's preload shim and Python bootstrap, which "
               "were not found next to the executable; runs start fresh";
        return make_posix_runner();
    }
    // The server's environment is a run's, less everything racehunt sets per run, with the
    // shim preloaded whether or not a given run enables it (a run's own environment, set
    // before its fork, says whether its exec'd children get it).
    const fs::path dir = c.out_dir / ".work" / "fork-server";
    RunPlan plan = plan_run(c, 0, 0, dir);
    ForkServerConfig f;
    for (const auto& [k, v] : plan.env)
        if (!util::starts_with(k, "RACEHUNT_"))
            f.env[k] = v;
    const std::string shim = c.injectors.shim.string();
    std::string preload = f.env.count("LD_PRELOAD") ? f.env["LD_PRELOAD"] : "";
    if (preload != shim && !util::starts_with(preload, shim + ":"))
        preload = preload.empty() ? shim : shim + ":" + preload;
    f.env["LD_PRELOAD"] = preload;
    f.python = c.python;
    f.script = c.injectors.python_dir / "_racehunt_server.py";
    f.cwd = plan.cwd;
    f.run_argv = plan.argv;
    f.preload = c.preload;
    if (c.scenario.locations.count("run.preload"))
        f.preload_where = c.scenario.where("run.preload").str();
    f.start_timeout = std::max<Nanos>(std::chrono::seconds(60), c.timeout);
    auto runner = std::make_unique<ForkServerRunner>(std::move(f));
    runner->start_first(cancel);
    return runner;
}

namespace {

// A run that racehunt perturbs may be slowed past its timeout by the perturbation alone:
// at the timeout it is calmed and given a grace period, unless it is idle (stuck) then
// (run/calm.hpp). Controlled mode is not calmed: its scheduler cannot be turned off mid-run.
bool calmable(const JitterPlan& j) {
    return !j.control && (j.yields.probability > 0 || j.yields.pinned > 0 || j.shim.enabled ||
                          j.loop.active());
}

json bootstrap_config(const CampaignConfig& c, const RunPlan& p) {
    json j;
    // When the Python injectors start looking for `calm` (wall-clock seconds since the
    // epoch): not before the timeout, so that a run that ends in time makes no extra
    // system call, and its sync points, and so its decisions, stay those of its seed.
    if (calmable(p.jitter))
        j["calm_after"] = std::chrono::duration<double>(
                              std::chrono::system_clock::now().time_since_epoch() + c.timeout)
                              .count();
    j["protocol"] = RACEHUNT_PROTOCOL_VERSION;
    j["run_seed"] = util::hex64(p.seed);
    j["scenario_dir"] = c.scenario.dir.string();
    j["switch_interval"] = p.jitter.switch_interval ? json(*p.jitter.switch_interval) : json();
    j["checks"] = {{"thread_exceptions", c.scenario.check.thread_exceptions},
                   {"leaked_threads", c.scenario.check.leaked_threads},
                   {"asyncio_warnings", c.scenario.check.asyncio_warnings},
                   {"invariants", c.scenario.check.invariants}};
    if (c.scenario.check.max_memory_growth)
        j["checks"]["max_memory_growth"] = *c.scenario.check.max_memory_growth;
    // The yields log costs a list append per yield taken; a failing run's decisions.txt
    // needs it.
    j["yields"] = {{"probability", p.jitter.yields.probability},
                   {"granularity", p.jitter.yields.granularity},
                   {"focus", p.jitter.yields.focus},
                   {"log", true}};
    if (p.jitter.yields.sites > 0)
        j["yields"]["sites"] = p.jitter.yields.sites;
    if (p.jitter.yields.semantics != "native")
        j["yields"]["semantics"] = p.jitter.yields.semantics;
    if (p.jitter.loop.active())
        j["asyncio"] = {{"shuffle", p.jitter.loop.shuffle}, {"defer", p.jitter.loop.defer}};
    if (c.pins && !c.pins->loop.empty()) {
        json pins = json::array();
        for (const auto& l : c.pins->loop) {
            if (l.shuffle)
                pins.push_back({util::hex64(l.key), l.loop, l.iteration, "shuffle", l.tasks});
            else
                pins.push_back({util::hex64(l.key), l.loop, l.iteration, "defer",
                                l.tasks.empty() ? std::string() : l.tasks[0], l.iterations});
        }
        j["asyncio"]["pins"] = pins;
    }
    if (p.jitter.control)
        j["control"] = {{"strategy", p.jitter.control->strategy},
                        {"depth", p.jitter.control->depth},
                        {"max_steps", p.jitter.control->max_steps}};
    if (c.pins && c.trace)
        j["yields"]["trace"] = true;
    if (c.pins && (!c.pins->yields.empty() || c.trace)) {
        json pins = json::array();
        for (const auto& y : c.pins->yields)
            pins.push_back({util::hex64(y.key), y.thread, y.visit});
        j["yields"]["pins"] = pins;
    }
    return j;
}

std::string replay_script(const CampaignConfig& c, const RunRecord& r) {
    std::error_code ec;
    // The script runs from anywhere: the racehunt binary and the user's directory are pinned.
    auto argv = replay_args(c, r.seed);
    argv.insert(argv.begin(), self_exe().string());
    std::string cmd = util::shell_join(argv);
    std::string out = "#!/bin/sh\n";
    out += "# racehunt: run " + std::to_string(r.run) + " of campaign seed " +
           std::to_string(c.campaign_seed) + " (" + c.scenario.name + "): " + r.signature + "\n";
    out += "# Re-creates the run's perturbation choices from its seed. The OS still schedules\n"
           "# threads, so the failure comes back with some probability: add --repeat N.\n";
    out += "cd " + util::shell_quote(fs::current_path(ec).string()) + " || exit 2\n";
    out += "exec " + cmd + " \"$@\"\n";
    return out;
}

// The run's directory is where the injectors report: a run that cannot have one would test
// nothing racehunt could see, so it is racehunt's error and the workload never runs.
bool prepare_run_dir(const CampaignConfig& c, const RunPlan& plan, const fs::path& run_dir, RunRecord& r) {
    std::error_code ec;
    fs::remove_all(run_dir, ec);
    fs::create_directories(run_dir, ec);
    const std::string config_text = bootstrap_config(c, plan).dump(2) + "\n";
    if (ec || !write_text(run_dir / RACEHUNT_FILE_CONFIG, config_text) ||
        fs::file_size(run_dir / RACEHUNT_FILE_CONFIG, ec) != config_text.size() || ec) {
        const int err = errno;
        r.outcome = Outcome::Error;
        r.signature = "error:run-dir";
        r.reasons.push_back("racehunt could not prepare the run's directory " + run_dir.string() + ": " +
                            (ec ? ec.message() : std::string(std::strerror(err ? err : EIO))));
        fs::remove_all(run_dir, ec);
        return false;
    }
    if (plan.jitter.shim.pinned)
        write_shim_pins(run_dir / RACEHUNT_FILE_SHIM_PINS, *c.pins);
    return true;
}

RunRequest run_request(const CampaignConfig& c, RunPlan& plan, const fs::path& run_dir) {
    RunRequest req;
    req.argv = plan.argv;
    req.env = plan.env;
    req.cwd = plan.cwd;
    req.run_dir = run_dir;
    req.timeout = c.timeout;
    req.token = plan.env[RACEHUNT_ENV_RUN_TOKEN];
    if (c.scenario.run.max_processes)
        req.max_processes = static_cast<std::uint64_t>(*c.scenario.run.max_processes);
    req.memory_limit = c.scenario.run.memory_limit;
    if (calmable(plan.jitter))
        req.on_timeout = [run_dir, policy = calm_policy(c.timeout)](const std::vector<pid_t>& members) {
            return calm_or_kill(run_dir, members, policy);
        };
    req.before_kill = [run_dir, gdb = c.gdb](const std::vector<pid_t>& members) {
        capture_hang(run_dir, members,
                     [&run_dir](pid_t pid) {
                         return registered_dump_signal(run_dir / (RACEHUNT_FILE_EVENTS_PREFIX + std::to_string(pid) + RACEHUNT_FILE_EVENTS_SUFFIX));
                     },
                     gdb);
    };
    return req;
}

// The focus entries that no Python process of the run matched (among those that had yield
// points): a misspelt module name otherwise perturbs nothing, silently.
std::vector<std::string> focus_matched_nothing(const std::vector<PyProcessReport>& reports) {
    std::optional<std::vector<std::string>> common;
    for (const auto& rep : reports) {
        if (!rep.focus_unmatched)
            continue;
        if (!common) {
            common = *rep.focus_unmatched;
            continue;
        }
        std::vector<std::string> kept;
        for (const auto& e : *common)
            if (std::find(rep.focus_unmatched->begin(), rep.focus_unmatched->end(), e) != rep.focus_unmatched->end())
                kept.push_back(e);
        common = std::move(kept);
    }
    return common.value_or(std::vector<std::string>{});
}

bool run_dir_full(const fs::path& run_dir) {
    struct statvfs st {};
    return ::statvfs(run_dir.c_str(), &st) == 0 &&
           static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < (1u << 20);
}

// The record's counters and the warnings about injection (what was planned against what the
// injectors did), after the verdict's warnings.
void count_injections(const CampaignConfig& c, const RunPlan& plan, const RunResult& result,
                      const RunDir& run, RunRecord& r) {
    const auto& reports = run.reports;
    json counters = json::object();
    json python_counters = json::object();
    for (const auto& rep : reports) {
        if (rep.role == "root" && r.python.empty())
            r.python = rep.python;
        for (auto& [k, val] : rep.counters.items())
            if (val.is_number_integer())
                python_counters[k] = python_counters.value(k, 0LL) + val.get<long long>();
    }
    if (!python_counters.empty())
        counters["python"] = python_counters;
    counters["python_processes"] = reports.size();
    const ShimTotals& shim = run.shim;
    if (shim.processes > 0)
        counters["shim"] = shim.detail;
    // A run the timeout killed may have caught a process in its start-up, before the
    // bootstrap could arm the shim: that says nothing about -I or -S.
    // A calmed run's shim was disarmed by racehunt itself.
    if (shim.python_never_armed && plan.jitter.shim.enabled && !result.timed_out &&
        result.overtime == Nanos{0})
        r.warnings.push_back(std::to_string(shim.python_never_armed) +
                             " Python process(es) never ran racehunt's bootstrap to its end "
                             "(-I, -S, or PYTHONPATH dropped): the shim counted their calls "
                             "but did not perturb them");
    if (shim.flags_bad_option || shim.flags_protocol_bad)
        r.warnings.push_back("the shim rejected its options or protocol version; its jitter was off");
    // Jitter that was planned but never happened tests nothing: say so.
    const std::uint64_t py_yields = python_counters.value("yields", 0LL);
    const bool planned = plan.jitter.shim.enabled || plan.jitter.yields.probability > 0 ||
                         plan.jitter.switch_interval.has_value();
    const std::uint64_t switches = python_counters.value("control_switches", 0LL);
    const std::uint64_t loop_moves =
        python_counters.value("loop_shuffles", 0LL) + python_counters.value("loop_deferrals", 0LL);
    const bool happened = shim.yields + shim.delays + py_yields + switches + loop_moves > 0 ||
                          (plan.jitter.switch_interval.has_value() && !reports.empty());
    if (planned && !happened && r.injected)
        r.warnings.push_back("no perturbation was injected (no sync point or "
                             "line in focus was reached)");
    for (const auto& entry : focus_matched_nothing(reports))
        r.warnings.push_back("yields.focus entry \"" + entry +
                             "\" matched no code that ran (a module, a path or a glob: check its spelling; "
                             "a C module has no Python lines)");
    if (result.leftover_processes)
        counters["leftover_processes"] = result.leftover_processes;
    if (result.process_limit_hits) {
        counters["process_limit_hits"] = result.process_limit_hits;
        r.warnings.push_back("the run reached max_processes (" +
                             std::to_string(*c.scenario.run.max_processes) + "): " +
                             std::to_string(result.process_limit_hits) + " fork(s) refused");
    }
    if (result.out.omitted || result.err.omitted)
        counters["output_omitted_bytes"] = result.out.omitted + result.err.omitted;
    r.counters = counters;
}

// A failure after a yield where the interpreter never switches threads by itself may need
// a free-threaded build: labelled, and bucketed apart from the failures a GIL build makes.
void label_free_threaded(RunRecord& r) {
    if (!is_failure(r.outcome) || r.outcome == Outcome::Error)
        return;
    const json python = r.counters.value("python", json::object());
    const long long non_native = python.value("yields_non_native", 0LL);
    if (non_native <= 0)
        return;
    r.needs_free_threading = true;
    r.signature += " [free-threaded]";
    r.reasons.push_back(std::to_string(non_native) +
                        " Python yield(s) at points where this interpreter never switches threads "
                        "by itself (yields.semantics = \"free-threaded\"): the failure may need a "
                        "free-threaded build");
}

ExecutedRun execute(const CampaignConfig& c, ProcessRunner& runner, std::uint64_t index, std::uint64_t seed,
                    Cancellation& cancel) {
    ExecutedRun out;
    RunRecord& r = out.record;
    r.scenario = c.scenario.name;
    r.run = index;
    r.seed = seed;
    r.campaign_seed = c.campaign_seed;
    r.planned = c.runs;

    const fs::path run_dir = c.out_dir / ".work" / (std::to_string(index) + "-" + util::hex64(seed));
    RunPlan plan = plan_run(c, index, seed, run_dir);
    r.jitter = plan.jitter.to_json();
    if (!prepare_run_dir(c, plan, run_dir, r))
        return out;

    RunResult result = runner.run(run_request(c, plan, run_dir), cancel);
    std::error_code ec;
    if (result.start == "fork-server")
        r.start = result.start;
    if (result.cancelled) {
        fs::remove_all(run_dir, ec);
        out.cancelled = true;
        return out;
    }

    RunDir run = read_run_dir(run_dir);
    // A hang's cost to the user: from the timeout to every process reaped and the merged
    // dump written (stack requests, kill, reap, merge).
    const auto dump_start = std::chrono::steady_clock::now();
    Verdict v = judge({.run = result,
                       .reports = run.reports,
                       .check = c.scenario.check,
                       .root_is_python = c.scenario.kind != WorkloadKind::Command,
                       .run_dir = run_dir,
                       .run_dir_full = [&run_dir] { return run_dir_full(run_dir); },
                       .dump = [&run, &result](Outcome o) {
                           read_failure_files(run);
                           return build_dump(run, o, result.root_pid);
                       }});
    r.outcome = v.outcome;
    r.signature = v.signature;
    r.reasons = v.reasons;
    r.warnings = v.warnings;
    r.warnings.insert(r.warnings.end(), result.start_notes.begin(), result.start_notes.end());
    r.injected = v.injected;
    r.exit_code = result.exit_code;
    r.signal = result.signal;
    r.duration_ms = std::chrono::duration<double, std::milli>(result.duration).count();
    count_injections(c, plan, result, run, r);
    label_free_threaded(r);

    if (v.dump) try {
        const MergedDump& dump = *v.dump;
        if (!dump.empty())
            r.excerpt = dump_excerpt(dump);
        write_dump_file(run_dir, dump, r);
        if (r.outcome == Outcome::Hang)
            r.counters["hang_to_dump_ms"] =
                std::chrono::duration<double, std::milli>(
                    result.teardown + (std::chrono::steady_clock::now() - dump_start))
                    .count();
        r.counters["dumped_processes"] = dump.processes.size();
        write_decision_files(run, r, plan.jitter.switch_interval, plan.jitter.control || (c.pins && c.trace));
    } catch (const std::exception& e) {
        v.dump_error = e.what();
    }
    // The files come from processes that may have been killed mid-write; the failure itself
    // is already classified and must not be lost over its dump.
    if (!v.dump_error.empty())
        r.warnings.push_back("could not build the merged dump: " + v.dump_error);
    if (is_failure(r.outcome))
        file_run(c.out_dir, run_dir, r, replay_script(c, r));
    else
        fs::remove_all(run_dir, ec);
    return out;
}

} // namespace

ExecutedRun execute_run(const CampaignConfig& c, ProcessRunner& runner, std::uint64_t index,
                        std::uint64_t seed, Cancellation& cancel) {
    ExecutedRun ex = execute(c, runner, index, seed, cancel);
    // After run.json is written: the command is for the console and results.jsonl.
    if (!ex.cancelled && is_failure(ex.record.outcome))
        ex.record.replay = replay_command(c, seed);
    return ex;
}

} // namespace racehunt

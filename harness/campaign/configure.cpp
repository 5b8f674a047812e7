#include "campaign/configure.hpp"

#include "campaign/preflight.hpp"
#include "plan/seeds.hpp"
#include "run/interpreter.hpp"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

namespace racehunt {

namespace fs = std::filesystem;

double parse_rate(const std::string& text, const std::string& option) {
    std::string t = text;
    double scale = 1.0;
    if (!t.empty() && t.back() == '%') {
        t.pop_back();
        scale = 0.01;
    }
    char* end = nullptr;
    errno = 0;
    double v = t.empty() ? -1 : std::strtod(t.c_str(), &end) * scale;
    if (t.empty() || *end || errno || !(v >= 0.0 && v < 1.0))
        throw util::usage_error(option, "\"" + text + "\" is not a failure rate",
                                "give a rate from 0 to below 1, e.g. 0.01 or 1%");
    return v;
}

std::filesystem::path output_file(const std::string& arg, const std::string& option) {
    fs::path file = fs::absolute(arg);
    std::error_code ec;
    fs::path parent = file.parent_path();
    if (!fs::is_directory(parent, ec))
        throw util::usage_error(option, "directory " + parent.string() + " does not exist",
                                "create it or choose another path");
    util::ensure_writable_dir(parent, option);
    return file;
}

CampaignConfig make_campaign_config(const Scenario& s, const RunOptions& o, CommandKind kind,
                                    std::size_t python_index) {
    CampaignConfig c;
    c.scenario = s;
    c.scenario_arg = o.scenario;

    // Profile: the command line replaces the scenario's perturbation keys, so that
    // `--profile none` always means no perturbation at all. `yields.focus` stays: it says
    // where the suspect code is, not how hard to perturb it.
    if (o.profile) {
        c.profile = *o.profile;
        c.profile_from_cli = true;
        c.jitter.yield_focus = s.jitter.yield_focus;
    } else {
        c.profile = s.jitter.profile.value_or("default");
        c.jitter = s.jitter;
    }

    c.runs = static_cast<std::uint64_t>(o.runs.value_or(s.run.runs.value_or(100)));
    if (kind == CommandKind::Replay)
        c.runs = static_cast<std::uint64_t>(o.repeat.value_or(1));
    if (o.pins) {
        c.pins = std::make_shared<const Pins>(read_pins_file(*o.pins));
        c.pins_arg = *o.pins;
        c.trace = true; // a failing replay of pins gets its interleaving
    }
    std::int64_t jobs = o.jobs.value_or(s.run.jobs.value_or(0));
    if (jobs == 0)
        jobs = std::max(1u, std::thread::hardware_concurrency());
    c.jobs = static_cast<int>(jobs);

    // Start mode: --start wins over the scenario's run.start; the preload list is the
    // scenario's (only a fork server uses it).
    if (o.start) {
        c.start = *o.start;
        c.start_from_cli = true;
    } else {
        c.start = s.run.start.value_or("fresh");
    }
    c.preload = s.run.preload;

    if (kind == CommandKind::Run) {
        if (o.seed) {
            const std::string& t = *o.seed;
            std::optional<std::uint64_t> v;
            if (util::starts_with(t, "0x") || util::starts_with(t, "0X"))
                v = util::parse_hex64(t);
            else {
                try {
                    std::size_t used = 0;
                    unsigned long long x = std::stoull(t, &used, 10);
                    if (used == t.size() && t[0] != '-')
                        v = x;
                } catch (const std::logic_error&) {
                }
            }
            if (!v)
                throw util::usage_error("--seed", "\"" + t + "\" is not a campaign seed",
                                        "use a non-negative integer or 0x-prefixed hex");
            c.campaign_seed = *v;
        } else if (s.run.seed) {
            c.campaign_seed = *s.run.seed;
        } else {
            c.campaign_seed = fresh_campaign_seed();
        }
    }

    c.timeout = s.timeout;
    if (o.timeout) {
        c.timeout = *util::parse_duration(*o.timeout);
        c.timeout_from_cli = true;
    }
    if (o.stop_after)
        c.stop_after = static_cast<std::uint64_t>(*o.stop_after);
    if (o.time_budget)
        c.time_budget = *util::parse_duration(*o.time_budget);

    if (o.native_stacks) {
        const char* p = std::getenv("PATH");
        auto gdb = find_executable("gdb", fs::current_path(), p ? p : "");
        if (!gdb)
            throw util::usage_error("--native-stacks", "gdb is not installed",
                                    "install it (apt-get install gdb) or leave the option out");
        c.gdb = *gdb;
    }

    // The interpreter: --python relative to the current directory, the scenario's relative
    // to the scenario file, a bare name on the run's PATH.
    std::string path_var = s.env.count("PATH") ? s.env.at("PATH") : "";
    if (path_var.empty())
        if (const char* p = std::getenv("PATH"))
            path_var = p;
    if (s.kind != WorkloadKind::Command) {
        const std::size_t which = python_index < s.python.size() ? python_index : 0;
        c.python_arg = o.python ? *o.python : s.python[which];
        // A matrix entry is replayed with its interpreter named on the command line.
        c.python_from_cli = o.python.has_value() || s.python.size() > 1;
        auto exe = find_executable(c.python_arg, o.python ? fs::current_path() : s.dir, path_var);
        if (!exe) {
            std::string where = o.python ? "--python" : s.where("workload.python").str();
            throw util::usage_error(where, "interpreter \"" + c.python_arg + "\" not found",
                                    o.python ? "give a name on PATH or a path to an executable"
                                             : "set workload.python to a name on PATH or a path");
        }
        c.python = *exe;
    } else {
        if (!find_executable(s.command[0], s.dir, path_var))
            throw util::usage_error(s.where("workload.command").str(),
                                    "program \"" + s.command[0] + "\" not found",
                                    "give a name on PATH or a path relative to the scenario");
    }

    c.out_dir = o.out ? fs::path(*o.out) : fs::path("racehunt-out") / util::sanitize_file_name(s.name);
    if (kind != CommandKind::Run && !o.out)
        c.out_dir /= (kind == CommandKind::Replay ? "replay-" : "minimize-") +
                     util::hex64(util::parse_hex64(o.seed.value_or("0")).value_or(0));
    c.out_dir = fs::absolute(c.out_dir).lexically_normal();
    util::ensure_writable_dir(c.out_dir, o.out ? "--out" : "--out (default " + c.out_dir.string() + ")");
    if (o.json)
        c.json_file = output_file(*o.json, "--json");
    if (o.junit)
        c.junit_file = output_file(*o.junit, "--junit");
    if (o.fail_threshold)
        c.fail_threshold = parse_rate(*o.fail_threshold, "--fail-threshold");
    if (o.resume) {
        c.resume = fs::absolute(*o.resume);
        std::error_code ec;
        if (!fs::is_regular_file(*c.resume, ec))
            throw util::usage_error("--resume", "no results file at " + c.resume->string(),
                                    "give the results.jsonl of the interrupted campaign");
        if (o.out && fs::absolute(*o.out).lexically_normal() != c.resume->parent_path().lexically_normal())
            throw util::usage_error("--out", "--resume continues in the directory of its results file (" +
                                                 c.resume->parent_path().string() + ")",
                                    "leave --out out, or give the same directory");
        c.out_dir = c.resume->parent_path().lexically_normal();
    }

    c.injectors = Injectors::locate();
    if (c.injectors.python_dir.empty())
        throw util::internal_error("racehunt", "cannot find the Python bootstrap (python/sitecustomize.py)",
                                   "reinstall racehunt or set RACEHUNT_DATA_DIR");
    if (s.kind != WorkloadKind::Command) {
        std::string where = o.python ? "--python" : s.where("workload.python").str();
        const Interpreter in = probe_interpreter(c.python, c.injectors.python_dir, where, s.env, s.resolved_cwd());
        c.python_version = in.version;
        if (in.wrapped) {
            c.python_wrapper = c.python;
            c.python = in.executable;
            c.python_options = in.options;
            c.python_env = in.env;
        }
        if (s.kind == WorkloadKind::Pytest)
            require_pytest(c.python, s.env, where); // the scenario's env may bring it in
        // Mistakes that would fail every run the same way, found before any run.
        check_invariants(c.python, c.python_version, s);
        if (s.kind == WorkloadKind::Pytest && !o.no_config_check)
            collect_pytest_node(c.python, s);
    }
    c.config_check = !o.no_config_check;
    c.focus = default_focus(s);
    if (c.jitter.yield_focus)
        c.jitter.yield_focus = resolve_focus(s, *c.jitter.yield_focus);
    return c;
}

} // namespace racehunt

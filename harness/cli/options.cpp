#include "cli/options.hpp"

#include "cli/preflight.hpp"

#include "plan/jitter.hpp"
#include "plan/pins.hpp"
#include "plan/seeds.hpp"
#include "run/interpreter.hpp"
#include "run/probe.hpp"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <sstream>
#include <thread>

namespace racehunt {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

const char* command_name(CommandKind kind) {
    return kind == CommandKind::Run ? "run" : kind == CommandKind::Replay ? "replay" : "minimize";
}

std::string help_hint(CommandKind kind) {
    return std::string("see racehunt ") + command_name(kind) + " --help";
}

// The options a command shows in its --help; the scenario operand is added by the parser.
po::options_description describe(CommandKind kind) {
    po::options_description d("Options");
    // clang-format off
    d.add_options()
        ("help,h", "show this help")
        ("jobs,j", po::value<std::int64_t>()->value_name("N"), "parallel runs (0 or default: number of cores)")
        ("seed", po::value<std::string>()->value_name("SEED"), kind == CommandKind::Run
            ? "campaign seed (decimal, or 0x-prefixed hex)" : "run seed: the 16 hex digits racehunt printed")
        ("timeout", po::value<std::string>()->value_name("DUR"), "per-run timeout, e.g. 10s")
        ("profile", po::value<std::string>()->value_name("P"), "none | default | aggressive")
        ("out", po::value<std::string>()->value_name("DIR"), "output directory")
        ("json", po::value<std::string>()->value_name("FILE"), "also write the JSON summary here")
        ("python", po::value<std::string>()->value_name("EXE"), "interpreter (name on PATH or path)")
        ("quiet,q", po::bool_switch(), "no progress output")
        ("no-color", po::bool_switch(), "no colours")
        ("native-stacks", po::bool_switch(), "on a hang, native backtraces of every process too (gdb)")
        ("start", po::value<std::string>()->value_name("MODE"), "fresh | fork-server (default: the scenario's run.start, else fresh)")
        ("no-config-check", po::bool_switch(),
         "no pytest collection before the runs, and no early stop when the first runs all fail "
         "the same way for a configuration reason");
    if (kind == CommandKind::Run) {
        d.add_options()
            ("runs,n", po::value<std::int64_t>()->value_name("N"), "number of runs")
            ("stop-after", po::value<std::int64_t>()->value_name("K"), "stop after K failures")
            ("time-budget", po::value<std::string>()->value_name("DUR"), "start no run after this long")
            ("shard", po::value<std::string>()->value_name("K/N"), "run shard K of N (K/N)")
            ("junit", po::value<std::string>()->value_name("FILE"), "also write a JUnit XML report here")
            ("fail-threshold", po::value<std::string>()->value_name("RATE"),
             "exit 1 only when the failure rate is surely above this (e.g. 0.01 or 1%)")
            ("resume", po::value<std::string>()->value_name("RESULTS.jsonl"), "continue the campaign recorded in this results.jsonl");
    } else if (kind == CommandKind::Replay) {
        d.add_options()
            ("repeat", po::value<std::int64_t>()->value_name("N"), "replay this many times")
            ("pins", po::value<std::string>()->value_name("FILE"), "apply only the perturbations listed in this .pins file");
    } else {
        d.add_options()
            ("confirm", po::value<std::string>()->value_name("K/N"), "a candidate reproduces when K of N runs fail (K/N, default 3/5)")
            ("time-budget", po::value<std::string>()->value_name("DUR"), "stop shrinking after this long (default 10m)")
            ("final-runs", po::value<std::int64_t>()->value_name("N"), "runs that measure the minimal set's reproduction rate (default 20)")
            ("resume", po::bool_switch(), "continue an interrupted minimization of this seed (same --out)");
    }
    // clang-format on
    return d;
}

std::vector<std::string> option_names(const po::options_description& d) {
    std::vector<std::string> names;
    for (const auto& o : d.options())
        names.push_back("--" + o->long_name());
    return names;
}

// The value the command line gave an option (--name V, --name=V, -x V), to echo it back.
std::optional<std::string> given_value(const std::vector<std::string>& args, const po::options_description& d,
                                       const std::string& option) {
    const po::option_description* o = nullptr;
    try {
        o = d.find_nothrow(option.rfind("--", 0) == 0 ? option.substr(2) : option, false);
    } catch (const po::error&) {
        return std::nullopt;
    }
    if (!o)
        return std::nullopt;
    const std::string long_form = "--" + o->long_name();
    const std::string short_form = o->canonical_display_name(po::command_line_style::allow_dash_for_short);
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i].rfind(long_form + "=", 0) == 0)
            return args[i].substr(long_form.size() + 1);
        if ((args[i] == long_form || (short_form.size() == 2 && args[i] == short_form)) && i + 1 < args.size())
            return args[i + 1];
    }
    return std::nullopt;
}

std::int64_t positive(const std::optional<std::int64_t>& v, const char* option, std::int64_t min) {
    if (*v < min)
        throw util::usage_error(option, "must be at least " + std::to_string(min) + ", got " +
                                            std::to_string(*v),
                                std::string("pass ") + option + " " + std::to_string(min) +
                                    " or more");
    return *v;
}

Nanos duration_option(const std::string& text, const char* option) {
    auto d = util::parse_duration(text);
    if (!d || d->count() == 0)
        throw util::usage_error(option, "\"" + text + "\" is not a positive duration",
                                "write e.g. 10s, 500ms or 2m");
    return *d;
}

// Asks the interpreter its version and the executable that really runs (a wrapper such as
// pyenv's shim execs another one, which the runs then start: run/interpreter.hpp), and
// byte-compiles the bootstrap for it: with PYTHONDONTWRITEBYTECODE set (common in CI
// images), every run would otherwise compile the bootstrap from source again, which costs
// more than the interpreter's own start-up. It asks in the runs' directory and
// environment, by which a wrapper may choose (pyenv reads .python-version there).
Interpreter probe_interpreter(const fs::path& python, const fs::path& bootstrap,
                              const std::string& where, const Scenario& s) {
    const std::vector<std::string> args = {"-c", interpreter_probe_code(), bootstrap.string()};
    std::vector<std::string> argv = {python.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_probe(argv, std::chrono::seconds(60), s.env, ProbeOptions{s.resolved_cwd()});
    const InterpreterProbe probe = r ? parse_interpreter_probe(r->output) : InterpreterProbe{};
    const std::string& version = probe.version;
    if (version.empty())
        throw util::usage_error(where, python.string() + " does not run as a Python interpreter",
                                "name a Python 3.8+ interpreter");
    int major = 0, minor = 0;
    std::sscanf(version.c_str(), "%d.%d", &major, &minor);
    if (major < 3 || (major == 3 && minor < 8))
        throw util::usage_error(where, python.string() + " is Python " + version +
                                           "; racehunt supports Python 3.8 and newer",
                                "name a newer interpreter");
    return resolve_interpreter(python, probe, environment_with(s.env), args);
}

} // namespace

po::options_description merge_options() {
    po::options_description d("Options");
    // clang-format off
    d.add_options()
        ("help,h", "show this help")
        ("out", po::value<std::string>()->value_name("DIR"), "output directory (default racehunt-out/merged)")
        ("json", po::value<std::string>()->value_name("FILE"), "also write the JSON summary here")
        ("junit", po::value<std::string>()->value_name("FILE"), "also write a JUnit XML report here")
        ("fail-threshold", po::value<std::string>()->value_name("RATE"), "exit 1 only when a failure rate is surely above this")
        ("quiet,q", po::bool_switch(), "no progress output")
        ("no-color", po::bool_switch(), "no colours");
    // clang-format on
    return d;
}

po::options_description compare_options() {
    po::options_description d("Options");
    d.add_options()("help,h", "show this help")(
        "alpha", po::value<std::string>(), "significance level of the test (default 0.05)");
    return d;
}

po::options_description run_options(CommandKind kind) {
    return describe(kind);
}

std::string format_options(const po::options_description& d) {
    std::ostringstream o;
    o << d;
    return o.str();
}

bool is_run_seed(const std::string& text) {
    return text.size() == 16 && std::all_of(text.begin(), text.end(), [](char ch) {
               return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
           });
}

namespace {

// "K/N" with 1 <= K <= N <= max_n; nullopt otherwise.
std::optional<std::pair<long long, long long>> parse_k_of_n(const std::string& text, long long max_n) {
    auto slash = text.find('/');
    if (slash == std::string::npos)
        return std::nullopt;
    try {
        std::size_t p1 = 0, p2 = 0;
        std::string ks = text.substr(0, slash), ns = text.substr(slash + 1);
        long long k = std::stoll(ks, &p1), n = std::stoll(ns, &p2);
        if (p1 != ks.size() || p2 != ns.size() || k < 1 || k > n || n > max_n)
            return std::nullopt;
        return std::make_pair(k, n);
    } catch (const std::logic_error&) {
        return std::nullopt;
    }
}

} // namespace

std::pair<int, int> parse_confirm(const std::string& text) {
    auto v = parse_k_of_n(text, 100);
    if (!v)
        throw util::usage_error("--confirm", "\"" + text + "\" is not K/N",
                                "write K/N with 1 <= K <= N <= 100, e.g. --confirm 3/5");
    return {static_cast<int>(v->first), static_cast<int>(v->second)};
}

std::vector<std::string> expand_scenario_args(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (const auto& a : args) {
        std::error_code ec;
        if (!fs::is_directory(a, ec)) {
            out.push_back(a); // a file, or missing: load_scenario names it
            continue;
        }
        std::vector<std::string> found;
        fs::directory_iterator it(a, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            std::error_code ec2;
            const auto& e = *it;
            if (e.is_regular_file(ec2) && e.path().extension() == ".toml")
                found.push_back(e.path().string());
            else if (e.is_directory(ec2) && fs::is_regular_file(e.path() / "scenario.toml", ec2))
                found.push_back((e.path() / "scenario.toml").string());
        }
        if (ec)
            throw util::usage_error(a, "cannot read this directory: " + ec.message(),
                                    "check its permissions");
        if (found.empty())
            throw util::usage_error(a, "no scenario in this directory",
                                    "a directory of scenarios holds *.toml files or */scenario.toml");
        std::sort(found.begin(), found.end());
        out.insert(out.end(), found.begin(), found.end());
    }
    return out;
}

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

std::pair<std::uint64_t, std::uint64_t> parse_shard(const std::string& text) {
    auto v = parse_k_of_n(text, INT64_MAX);
    if (!v)
        throw util::usage_error("--shard", "\"" + text + "\" is not a shard",
                                "write K/N with 1 <= K <= N, e.g. --shard 2/8");
    return {static_cast<std::uint64_t>(v->first), static_cast<std::uint64_t>(v->second)};
}

namespace {

std::optional<std::uint64_t> env_number(const std::function<const char*(const char*)>& getenv_,
                                        const char* name, const std::string& hint) {
    const char* v = getenv_(name);
    if (!v)
        return std::nullopt;
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
        throw util::usage_error(std::string("environment variable ") + name,
                                std::string("\"") + v + "\" is not a whole number", hint);
    return static_cast<std::uint64_t>(n);
}

} // namespace

Shard resolve_shard(const std::optional<std::string>& option,
                    const std::function<const char*(const char*)>& getenv_) {
    if (option) {
        auto [k, n] = parse_shard(*option);
        return {k, n, "--shard"};
    }
    if (const char* v = getenv_("RACEHUNT_SHARD")) {
        auto kn = parse_k_of_n(v, INT64_MAX);
        if (!kn)
            throw util::usage_error("environment variable RACEHUNT_SHARD",
                                    std::string("\"") + v + "\" is not a shard",
                                    "write K/N with 1 <= K <= N, e.g. RACEHUNT_SHARD=2/8");
        return {static_cast<std::uint64_t>(kn->first), static_cast<std::uint64_t>(kn->second),
                "RACEHUNT_SHARD"};
    }
    // Slurm job arrays: task ids may start anywhere (--array=5-12), so the shard is the id
    // counted from SLURM_ARRAY_TASK_MIN.
    if (getenv_("SLURM_ARRAY_TASK_ID")) {
        const std::string hint = "racehunt reads Slurm's array variables; run it inside sbatch --array";
        auto id = env_number(getenv_, "SLURM_ARRAY_TASK_ID", hint);
        auto count = env_number(getenv_, "SLURM_ARRAY_TASK_COUNT", hint);
        auto min = env_number(getenv_, "SLURM_ARRAY_TASK_MIN", hint).value_or(0);
        auto step = env_number(getenv_, "SLURM_ARRAY_TASK_STEP", hint).value_or(1);
        if (step == 0 || (*id >= min && (*id - min) % step != 0))
            throw util::usage_error("environment variable SLURM_ARRAY_TASK_ID",
                                    "task " + std::to_string(*id) + " is not on the array's step of " +
                                        std::to_string(step) + " from " + std::to_string(min),
                                    "use an array such as --array=0-7, or pass --shard K/N");
        if (!count || *count == 0 || *id < min || (*id - min) / step >= *count)
            throw util::usage_error("environment variable SLURM_ARRAY_TASK_ID",
                                    "task " + std::to_string(*id) + " is not one of " +
                                        std::to_string(count.value_or(0)) + " array tasks from " +
                                        std::to_string(min),
                                    "use a contiguous array (--array=0-7), or pass --shard K/N");
        return {(*id - min) / step + 1, *count, "Slurm array task " + std::to_string(*id)};
    }
    // Kubernetes Indexed Jobs give the 0-based index; the completion count is not in the
    // environment, so the manifest passes it.
    if (getenv_("JOB_COMPLETION_INDEX")) {
        const std::string hint = "set RACEHUNT_SHARD_COUNT to the Job's completions in the manifest";
        auto index = env_number(getenv_, "JOB_COMPLETION_INDEX", hint);
        auto count = env_number(getenv_, "RACEHUNT_SHARD_COUNT", hint);
        if (!count)
            throw util::usage_error("environment variable RACEHUNT_SHARD_COUNT",
                                    "JOB_COMPLETION_INDEX is set but the number of shards is not", hint);
        if (*count == 0 || *index >= *count)
            throw util::usage_error("environment variable JOB_COMPLETION_INDEX",
                                    "index " + std::to_string(*index) + " is not below RACEHUNT_SHARD_COUNT=" +
                                        std::to_string(*count),
                                    hint);
        return {*index + 1, *count, "Kubernetes completion index " + std::to_string(*index)};
    }
    return {};
}

SeedCommand prepare_seed_command(const std::vector<std::string>& args, CommandKind kind) {
    SeedCommand sc;
    sc.options = parse_run_options(args, kind);
    const char* name = kind == CommandKind::Replay ? "replay" : "minimize";
    if (!sc.options.seed)
        throw util::usage_error("--seed", std::string(name) + " needs the seed of a run",
                                std::string("racehunt ") + name + " SCENARIO.toml --seed 0123456789abcdef; " +
                                    help_hint(kind));
    Scenario s = load_scenario(sc.options.scenario);
    check_scenario_files(s);
    sc.config = make_campaign_config(s, sc.options, kind);
    sc.seed = *util::parse_hex64(*sc.options.seed);
    return sc;
}

po::variables_map parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                                     const char* operands, const std::string& command) {
    po::options_description all;
    all.add(desc).add_options()(operands, po::value<std::vector<std::string>>(), "operands");
    po::positional_options_description pos;
    pos.add(operands, -1);
    const std::string hint_help = "see racehunt " + command + " --help";
    const std::string where = "racehunt " + command;
    po::variables_map vm;
    try {
        auto style = po::command_line_style::unix_style & ~po::command_line_style::allow_guessing;
        po::store(po::command_line_parser(args).options(all).positional(pos).style(style).run(), vm);
        po::notify(vm);
    } catch (const po::unknown_option& e) {
        std::string opt = e.get_option_name();
        std::string hint = hint_help;
        if (auto m = util::closest_match(opt, option_names(desc)))
            hint = "did you mean " + *m + "?";
        throw util::usage_error(opt.empty() ? where : opt, "unknown option", hint);
    } catch (const po::error_with_option_name& e) {
        // Not e.what(): it substitutes the offending value into a template and loops forever
        // when the value itself holds a placeholder such as "%value%" (found by fuzzing).
        std::string opt = e.get_option_name();
        std::string what = "cannot be parsed";
        if (dynamic_cast<const po::invalid_option_value*>(&e))
            what = "has an invalid value";
        else if (dynamic_cast<const po::multiple_occurrences*>(&e))
            what = "is given more than once";
        else if (dynamic_cast<const po::invalid_command_line_syntax*>(&e))
            what = "is missing its value or has one it does not take";
        if (auto value = given_value(args, desc, opt))
            what += ": \"" + *value + "\"";
        throw util::usage_error(opt.empty() ? where : opt, what, hint_help);
    } catch (const po::error& e) {
        throw util::usage_error(where, e.what(), hint_help);
    }
    return vm;
}

RunOptions parse_run_options(const std::vector<std::string>& args, CommandKind kind) {
    const std::string hint_help = help_hint(kind);
    po::variables_map vm = parse_command_line(args, describe(kind), "scenario", command_name(kind));
    RunOptions o;
    auto str = [&](const char* k) -> std::optional<std::string> {
        return vm.count(k) ? std::optional(vm[k].as<std::string>()) : std::nullopt;
    };
    auto num = [&](const char* k) -> std::optional<std::int64_t> {
        return vm.count(k) ? std::optional(vm[k].as<std::int64_t>()) : std::nullopt;
    };
    if (!vm.count("scenario"))
        throw util::usage_error(std::string("racehunt ") + command_name(kind), "no scenario file given",
                                kind == CommandKind::Run
                                    ? "racehunt --runs 500 path/to/scenario.toml; " + hint_help
                                    : std::string("racehunt ") + command_name(kind) +
                                          " SCENARIO.toml --seed RUNSEED; " + hint_help);
    auto files = vm["scenario"].as<std::vector<std::string>>();
    if (files.size() > 1 && kind != CommandKind::Run)
        throw util::usage_error(files[1].empty() ? std::string("\"\" (an empty operand)") : files[1],
                                "replay and minimize take one scenario file",
                                "name the scenario of the run");
    o.scenario = files[0];
    o.scenarios = files;
    if (kind == CommandKind::Run) {
        o.runs = num("runs");
        o.stop_after = num("stop-after");
        o.time_budget = str("time-budget");
        o.shard = str("shard");
        o.junit = str("junit");
        o.fail_threshold = str("fail-threshold");
        o.resume = str("resume");
    } else if (kind == CommandKind::Replay) {
        o.repeat = num("repeat");
        o.pins = str("pins");
    } else {
        o.confirm = str("confirm");
        o.time_budget = str("time-budget");
        o.final_runs = num("final-runs");
        o.resume_minimize = vm["resume"].as<bool>();
    }
    o.jobs = num("jobs");
    o.seed = str("seed");
    o.timeout = str("timeout");
    o.profile = str("profile");
    o.out = str("out");
    o.json = str("json");
    o.python = str("python");
    o.start = str("start"); // run, replay and minimize: a run may be replayed in the other mode
    o.quiet = vm["quiet"].as<bool>();
    o.no_color = vm["no-color"].as<bool>();
    o.native_stacks = vm["native-stacks"].as<bool>();
    o.no_config_check = vm["no-config-check"].as<bool>();

    // Values are checked here, before anything else happens.
    if (o.runs)
        positive(o.runs, "--runs", 1);
    if (o.jobs)
        positive(o.jobs, "--jobs", 0); // 0: one run per core, as jobs = 0 in a scenario
    if (o.stop_after)
        positive(o.stop_after, "--stop-after", 1);
    if (o.repeat)
        positive(o.repeat, "--repeat", 1);
    if (o.final_runs)
        positive(o.final_runs, "--final-runs", 1);
    if (o.confirm)
        parse_confirm(*o.confirm);
    if (o.timeout)
        duration_option(*o.timeout, "--timeout");
    if (o.time_budget)
        duration_option(*o.time_budget, "--time-budget");
    if (o.shard)
        parse_shard(*o.shard);
    if (o.profile && !is_profile_name(*o.profile)) {
        std::string hint = "use none, default or aggressive";
        if (auto m = util::closest_match(*o.profile, {"none", "default", "aggressive"}))
            hint = "did you mean \"" + *m + "\"?";
        throw util::usage_error("--profile", "unknown profile \"" + *o.profile + "\"", hint);
    }
    if (o.start && *o.start != "fresh" && *o.start != "fork-server") {
        std::string hint = "use fresh or fork-server";
        if (auto m = util::closest_match(*o.start, {"fresh", "fork-server"}))
            hint = "did you mean \"" + *m + "\"?";
        throw util::usage_error("--start", "unknown start mode \"" + *o.start + "\"", hint);
    }
    if (o.fail_threshold)
        parse_rate(*o.fail_threshold, "--fail-threshold");
    if (o.seed && kind != CommandKind::Run && !is_run_seed(*o.seed))
        throw util::usage_error("--seed", "\"" + *o.seed + "\" is not a run seed",
                                "a run seed is exactly 16 hex digits, as racehunt printed it, e.g. --seed 0123456789abcdef");
    return o;
}

CampaignConfig make_campaign_config(const Scenario& s, const RunOptions& o, CommandKind kind,
                                    std::size_t python_index) {
    CampaignConfig c;
    c.scenario = s;
    c.scenario_arg = o.scenario;

    // Profile: the command line replaces the scenario's whole [jitter] table, so that
    // `--profile none` always means no perturbation at all.
    if (o.profile) {
        c.profile = *o.profile;
        c.profile_from_cli = true;
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
        const Interpreter in = probe_interpreter(c.python, c.injectors.python_dir, where, s);
        c.python_version = in.version;
        if (in.wrapped) {
            c.python_wrapper = c.python;
            c.python = in.executable;
            c.python_options = in.options;
            c.python_env = in.env;
        }
        if (s.kind == WorkloadKind::Pytest) {
            // With the scenario's environment: it may bring pytest in through PYTHONPATH.
            auto r = run_probe({c.python.string(), "-c", "import pytest; print(pytest.__version__)"},
                               std::chrono::seconds(30), s.env);
            if (!r || r->exit_code != 0)
                throw util::usage_error(where, "pytest is not installed for " + c.python.string(),
                                        "install it (Debian: apt-get install python3-pytest) or choose an "
                                        "interpreter that has it");
        }
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

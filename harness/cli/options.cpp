#include "cli/options.hpp"

#include "plan/jitter.hpp"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>

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

} // namespace racehunt

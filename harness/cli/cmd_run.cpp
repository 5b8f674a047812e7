// `racehunt run`: the main job, as a pipeline read top to bottom.
#include "campaign/run_campaign.hpp"
#include "cli/cli.hpp"
#include "cli/execute.hpp"
#include "cli/options.hpp"
#include "plan/seeds.hpp"
#include "report/console.hpp"
#include "report/write_reports.hpp"
#include "report/results_file.hpp"
#include "report/summary.hpp"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <cstdlib>
#include <map>

namespace racehunt {

namespace fs = std::filesystem;

namespace {

// --resume: the records of the interrupted campaign, with its seed and size adopted (an
// explicit --seed or --runs must agree). A line cut short by a kill is cut off the file.
std::vector<RunRecord> resume_records(CampaignConfig& c, const RunOptions& o, Console& console) {
    std::vector<RunRecord> previous;
    std::optional<std::uint64_t> seed, planned;
    const ResultsFileInfo info = read_results(*c.resume, [&](RunRecord&& r, const std::string&, std::uint64_t) {
        if (r.scenario != c.scenario.name)
            throw util::usage_error(c.resume->string(), "the results are of scenario \"" + r.scenario +
                                                            "\", not \"" + c.scenario.name + "\"",
                                    "resume with the scenario file the campaign ran");
        seed = r.campaign_seed;
        planned = std::max(planned.value_or(0), r.planned);
        if (!is_failure(r.outcome)) {
            r.jitter = nlohmann::json();
            r.counters = nlohmann::json();
        }
        previous.push_back(std::move(r));
    });
    if (info.truncated_tail) {
        std::filesystem::resize_file(*c.resume, info.valid_bytes);
        console.warning(c.resume->string() + ": its last line was cut short (racehunt was killed while "
                        "writing it); that run is made again");
    }
    if (seed) {
        if (o.seed && c.campaign_seed != *seed)
            throw util::usage_error("--seed", "the campaign being resumed has seed " + std::to_string(*seed),
                                    "leave --seed out when resuming");
        c.campaign_seed = *seed;
        if (o.runs && planned && *planned && c.runs != *planned)
            throw util::usage_error("--runs", "the campaign being resumed has " + std::to_string(*planned) + " runs",
                                    "leave --runs out when resuming");
        if (planned && *planned)
            c.runs = *planned;
    }
    return previous;
}

// The table across campaigns: one row per scenario and interpreter.
// `config_errors`: the rows whose campaign stopped for a configuration error.
void print_table(const CampaignSummary& all, const std::vector<bool>& config_errors) {
    std::size_t width = 8;
    for (const auto& s : all.scenarios)
        width = std::max(width, s.name.size() + 2);
    std::printf("\n%-*s %-9s %7s %9s  %-26s %s\n", static_cast<int>(width), "scenario", "python", "runs",
                "failures", "rate [95%]", "result");
    for (std::size_t i = 0; i < all.scenarios.size(); ++i) {
        const ScenarioSummary& s = all.scenarios[i];
        char rate[64];
        std::snprintf(rate, sizeof rate, "%.1f%% [%.1f-%.1f%%]", 100 * s.rate, 100 * s.interval.low,
                      100 * s.interval.high);
        const char* result = i < config_errors.size() && config_errors[i] ? "config-error"
                             : s.failures == 0                            ? "ok"
                             : all.passes_threshold(s)                    ? "accepted"
                                                                          : "FAILED";
        std::printf("%-*s %-9s %7llu %9llu  %-26s %s\n", static_cast<int>(width), s.name.c_str(),
                    s.python.empty() ? "-" : s.python.c_str(), static_cast<unsigned long long>(s.runs),
                    static_cast<unsigned long long>(s.failures), rate, result);
    }
}

// One campaign: a scenario on one interpreter (one entry of its version matrix).
ExitCode run_one(CampaignConfig& c, const RunOptions& o, Session& session, CampaignSummary* out) {
    // Plan the run seeds (this shard's slice of them).
    const Shard shard = resolve_shard(o.shard, [](const char* name) { return std::getenv(name); });
    std::vector<RunRecord> previous;
    if (c.resume) {
        Console early(Console::stderr_is_tty(), Console::want_color(o.no_color), o.quiet);
        previous = resume_records(c, o, early);
    }
    std::vector<PlannedRun> planned = plan_campaign(c.campaign_seed, c.runs, shard.k, shard.n);
    const std::uint64_t shard_total = planned.size();
    if (!previous.empty()) {
        std::vector<bool> done(c.runs, false);
        for (const auto& r : previous)
            if (r.run < done.size())
                done[r.run] = true;
        std::erase_if(planned, [&](const PlannedRun& p) { return done[p.index]; });
    }

    std::string header = "racehunt: " + c.scenario.name + ": " + std::to_string(planned.size()) + " runs";
    if (c.resume)
        header += " (resuming: " + std::to_string(previous.size()) + " of " + std::to_string(shard_total) +
                  " done)";
    if (shard.n > 1 || !shard.source.empty())
        header += " (shard " + std::to_string(shard.k) + "/" + std::to_string(shard.n) + " of " +
                  std::to_string(c.runs) + ", from " + shard.source + ")";
    header += ", -j " + std::to_string(c.jobs) + ", profile " + c.profile + ", campaign seed " +
              std::to_string(c.campaign_seed) + ", timeout " + util::format_duration(c.timeout) +
              ", " + describe_python(c);
    return execute_and_report(c, planned, o, session, header, false, std::move(previous), shard_total, out);
}

} // namespace

ExitCode cmd_run(const std::vector<std::string>& args, Session& session) {
    // 1. Read the command line; 2. load and validate every scenario (nothing runs on error).
    RunOptions o = parse_run_options(args, CommandKind::Run);
    const std::vector<std::string> files = expand_scenario_args(o.scenarios);
    std::vector<Scenario> scenarios;
    std::map<std::string, std::string> names;
    for (const auto& f : files) {
        Scenario s = load_scenario(f);
        check_scenario_files(s);
        if (auto [it, fresh] = names.emplace(util::sanitize_file_name(s.name), f); !fresh)
            throw util::usage_error(f, "scenario name \"" + s.name + "\" is also the name of " + it->second,
                                    "give each scenario its own name = \"...\" (results go to a folder per name)");
        scenarios.push_back(std::move(s));
    }
    // 3. Combine command line and scenarios into campaigns: one per scenario and interpreter.
    std::vector<CampaignConfig> campaigns;
    const bool many = scenarios.size() > 1;
    if (many && o.resume)
        throw util::usage_error("--resume", "resumes one campaign; several scenarios were given",
                                "resume each scenario's results.jsonl on its own");
    if (o.resume && !o.python && scenarios[0].kind != WorkloadKind::Command && scenarios[0].python.size() > 1)
        throw util::usage_error("--resume", "resumes one campaign; the scenario runs a version matrix",
                                "resume each interpreter's results.jsonl with --python EXE");
    // The combined reports are written after every campaign ran: check their places now.
    std::optional<fs::path> json_file, junit_file;
    if (o.json)
        json_file = output_file(*o.json, "--json");
    if (o.junit)
        junit_file = output_file(*o.junit, "--junit");
    for (std::size_t i = 0; i < scenarios.size(); ++i) {
        const Scenario& s = scenarios[i];
        const std::size_t matrix = s.kind != WorkloadKind::Command && !o.python ? s.python.size() : 1;
        // Every interpreter of a matrix runs the same run seeds, so their rates compare.
        std::optional<std::string> shared_seed = o.seed;
        if (matrix > 1 && !o.seed && !s.run.seed)
            shared_seed = std::to_string(fresh_campaign_seed());
        for (std::size_t p = 0; p < matrix; ++p) {
            RunOptions oi = o;
            oi.scenario = files[i];
            oi.seed = shared_seed;
            if (many || matrix > 1) {
                // The combined reports are written once at the end.
                oi.json.reset();
                oi.junit.reset();
            }
            if (many && o.out)
                oi.out = (fs::path(*o.out) / util::sanitize_file_name(s.name)).string();
            CampaignConfig c = make_campaign_config(s, oi, CommandKind::Run, p);
            if (matrix > 1) {
                // A folder per interpreter, by version (made unique if two entries share one).
                std::string label = "python-" + util::sanitize_file_name(c.python_version);
                for (const auto& other : campaigns)
                    if (other.scenario.name == s.name && other.out_dir.filename() == label)
                        label += "-" + std::to_string(p + 1);
                c.out_dir /= label;
                util::ensure_writable_dir(c.out_dir, "--out");
            }
            campaigns.push_back(std::move(c));
        }
    }
    if (campaigns.size() == 1) {
        CampaignConfig& c = campaigns[0];
        return run_one(c, o, session, nullptr);
    }

    // 4. Several campaigns, one after the other; one table and one report for all.
    CampaignSummary all;
    all.version = RACEHUNT_VERSION;
    all.jobs = campaigns[0].jobs;
    all.profile = o.profile.value_or("");
    if (o.fail_threshold)
        all.fail_threshold = parse_rate(*o.fail_threshold, "--fail-threshold");
    bool internal = false, interrupted = false, config_error = false;
    std::vector<bool> config_errors; // per row of the table
    for (auto& c : campaigns) {
        if (session.interrupted.load()) {
            interrupted = true;
            break;
        }
        if (!config_errors.empty() && config_errors.back()) {
            // The campaign that stopped for its configuration cancelled the session's runs;
            // the next scenario is a campaign of its own. A Ctrl-C that lands in between is
            // seen by the check after the reset.
            session.cancel.reset();
            if (session.interrupted.load()) {
                session.cancel.cancel();
                interrupted = true;
                break;
            }
        }
        CampaignSummary one;
        ExitCode code = run_one(c, o, session, &one);
        internal |= code == ExitCode::Internal;
        interrupted |= code == ExitCode::Interrupted;
        config_error |= code == ExitCode::Usage;
        all.campaign_seed = one.campaign_seed; // the last; each scenario carries its own
        all.elapsed_s += one.elapsed_s;
        for (auto& s : one.scenarios) {
            all.scenarios.push_back(std::move(s));
            config_errors.push_back(code == ExitCode::Usage);
        }
    }
    all.interrupted = interrupted;
    all.stop_reason = interrupted ? "interrupted" : "completed";
    const fs::path root = fs::absolute(o.out ? fs::path(*o.out) : fs::path("racehunt-out")).lexically_normal();
    std::string written;
    try {
        util::ensure_writable_dir(root, "--out");
        written = write_reports(all, root, json_file, junit_file);
    } catch (const util::Error& e) {
        std::fprintf(stderr, "racehunt: warning: %s\n", e.what());
        internal = true;
    }
    print_table(all, config_errors);
    std::printf("\nall campaigns: %s\n", written.c_str());
    if (interrupted)
        return ExitCode::Interrupted;
    if (internal)
        return ExitCode::Internal;
    if (config_error)
        return ExitCode::Usage;
    return all.failed() ? ExitCode::Failures : ExitCode::Ok;
}

} // namespace racehunt

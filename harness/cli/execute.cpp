#include "cli/execute.hpp"

#include "report/console.hpp"
#include "report/write_reports.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <cstdio>

namespace racehunt {

ExitCode execute_and_report(const CampaignConfig& c, const std::vector<PlannedRun>& planned,
                            const RunOptions& o, Session& session, const std::string& header,
                            bool replay, std::vector<RunRecord> previous,
                            std::uint64_t total_planned, CampaignSummary* out) {
    Console console(Console::stderr_is_tty(), Console::want_color(o.no_color), o.quiet);
    // Before anything is written: a fork server that refuses its preloads is a usage error.
    std::string start_note;
    std::unique_ptr<ProcessRunner> runner;
    try {
        runner = make_runner(c, start_note, &session.cancel);
    } catch (const util::Error&) {
        if (session.interrupted.load()) {
            console.warning("interrupted while the fork server started; nothing was run");
            return ExitCode::Interrupted;
        }
        throw;
    }
    console.header(header);
    if (!start_note.empty())
        console.warning(start_note);
    if (!c.resume)
        if (auto moved = set_aside_previous_campaign(c.out_dir))
            console.note("the previous campaign in " + c.out_dir.string() + " was moved to " + moved->string());

    util::AppendFile jsonl;
    // Resuming appends to the file given, whatever its name.
    jsonl.open(c.resume ? *c.resume : c.out_dir / "results.jsonl", /*truncate=*/!c.resume);

    // Every failing record carries its replay command: execute_run sets it, and a resumed
    // record brings it from results.jsonl.
    SummaryBuilder builder(c.scenario.name, c.scenario.file.string(), total_planned ? total_planned : planned.size());
    for (const auto& r : previous)
        builder.add(r);
    previous.clear();
    CampaignResult result = run_campaign(c, planned, *runner, jsonl, console, session.cancel, &builder);

    if (auto st = runner->start_stats()) {
        std::string line = "fork server: " + std::to_string(st->forked) + " run(s) forked, " +
                           std::to_string(st->fresh) + " started fresh";
        if (st->restarts)
            line += ", " + std::to_string(st->restarts) + " server(s) died and were replaced";
        if (st->fresh || st->restarts)
            console.warning(line + (st->disabled_reason.empty() ? "" : " (" + st->disabled_reason + ")"));
        else
            console.note(line);
    }

    // Summarise and report; partial results are written too when interrupted.
    CampaignSummary summary;
    summary.version = RACEHUNT_VERSION;
    summary.campaign_seed = c.campaign_seed;
    summary.profile = c.profile;
    summary.jobs = c.jobs;
    summary.interrupted = session.interrupted.load();
    const bool config_error = result.config_stop && !summary.interrupted;
    summary.stop_reason = summary.interrupted ? "interrupted"
                          : config_error      ? "config-error"
                                              : to_string(result.pool.reason);
    summary.elapsed_s = std::chrono::duration<double>(result.pool.elapsed).count();
    summary.fail_threshold = c.fail_threshold;
    summary.scenarios.push_back(builder.finish());
    summary.scenarios.back().python = c.python_version;
    summary.scenarios.back().campaign_seed = c.campaign_seed;
    summary.scenarios.back().elapsed_s = summary.elapsed_s;
    std::string written = jsonl.path().string();
    bool write_failed = result.results_write_failed;
    try {
        written += ", " + write_reports(summary, c.out_dir, c.json_file, c.junit_file);
    } catch (const util::Error& e) {
        console.warning(e.what());
        write_failed = true;
    }

    if (replay && !summary.scenarios.empty()) {
        const ScenarioSummary& s = summary.scenarios[0];
        console.note("replay of seed " + util::hex64(planned.empty() ? 0 : planned[0].seed) +
                     ": " + std::to_string(s.failures) + " of " + std::to_string(s.runs) +
                     " run(s) failed");
    }
    console.summary(summary, "results: " + written);
    // The first runs all failed for a reason that is the configuration's: an error to fix,
    // not a failure rate (exit status 2).
    if (config_error)
        console.error(describe_config_stop(c, *result.config_stop, planned.size()));
    if (summary.interrupted && !replay && !summary.scenarios.empty() &&
        summary.scenarios[0].runs < summary.scenarios[0].planned)
        std::printf("\ninterrupted after %llu of %llu runs; to run the rest:\n  %s\n",
                    static_cast<unsigned long long>(summary.scenarios[0].runs),
                    static_cast<unsigned long long>(summary.scenarios[0].planned),
                    resume_command(c, jsonl.path()).c_str());

    if (out)
        *out = summary;
    if (summary.interrupted)
        return ExitCode::Interrupted;
    if (write_failed || result.internal_errors > 0)
        return ExitCode::Internal;
    if (config_error)
        return ExitCode::Usage;
    return summary.failed() ? ExitCode::Failures : ExitCode::Ok;
}

std::string describe_python(const CampaignConfig& c) {
    if (c.scenario.kind == WorkloadKind::Command)
        return "command " + util::shell_quote(c.scenario.command[0]);
    // A wrapper (pyenv's shim) is named with the interpreter the runs really start.
    const std::string wrapper = c.python_wrapper.empty() ? "" : c.python_wrapper.string() + " -> ";
    return "Python " + c.python_version + " (" + wrapper + c.python.string() + ")";
}


} // namespace racehunt

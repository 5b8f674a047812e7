#include "campaign/run_campaign.hpp"
#include "protocol.h"

#include "plan/seeds.hpp"
#include "util/strings.hpp"

#include <mutex>

namespace racehunt {

std::vector<PlannedRun> plan_campaign(std::uint64_t campaign_seed, std::uint64_t total,
                                      std::uint64_t shard_k, std::uint64_t shard_n) {
    std::vector<PlannedRun> out;
    for (std::uint64_t i = shard_k - 1; i < total; i += shard_n)
        out.push_back({i, run_seed(campaign_seed, i)});
    return out;
}

std::string describe_config_stop(const CampaignConfig& c, const ConfigStop& stop,
                                 std::uint64_t planned) {
    const Scenario& s = c.scenario;
    const std::string workload_key = std::string("workload.") + to_string(s.kind);
    std::string where, what, look;
    switch (stop.cause) {
    case ConfigCause::MissingModule: {
        // `python -m` of a module that is not there (no exception was recorded): the name
        // in workload.module, or where the interpreter looks for it.
        const bool module_itself = s.kind == WorkloadKind::Module &&
                                   util::starts_with(stop.first.signature, "fail:exit-code:");
        where = s.kind == WorkloadKind::Command || module_itself ? s.where(workload_key).str()
                : c.python_from_cli                              ? std::string("--python")
                                                                 : s.where("workload.python").str();
        what = "a module cannot be imported";
        if (s.kind == WorkloadKind::Command)
            look = "is the module installed for the Python the command starts?";
        else
            look =
                std::string(module_itself ? "is workload.module spelled right, and "
                                          : "is the module ") +
                "installed for " + c.python.string() + " (Python " + c.python_version +
                ")? workload.env (PYTHONPATH) and workload.cwd decide what the workload can import";
        break;
    }
    case ConfigCause::InvariantError: {
        const std::string prefix = "fail:invariant-error:";
        const std::string expr =
            stop.first.signature.substr(std::min(prefix.size(), stop.first.signature.size()));
        where = s.where("check.invariants").str();
        for (std::size_t i = 0; i < s.check.invariants.size(); ++i)
            if (s.check.invariants[i] == expr) {
                where = s.where("check.invariants[" + std::to_string(i) + "]").str();
                break;
            }
        what = "an invariant cannot be evaluated";
        look = "an invariant is evaluated in the globals of the workload's __main__ module once "
               "it has finished: does it name what the workload defines at its top level?";
        break;
    }
    case ConfigCause::UsageError:
        where = s.where(s.locations.count("workload.args") ? "workload.args" : workload_key).str();
        what = "the workload rejected its command line (exit status 2 with a usage message)";
        look = "check workload.args and " + workload_key;
        break;
    case ConfigCause::PytestUsage:
        where = s.where(workload_key).str();
        what = "pytest rejected its command line or found no such test (pytest exit status 4)";
        look = "check workload.pytest (relative to the scenario file) and workload.args";
        break;
    case ConfigCause::PytestNoTests:
        where = s.where(workload_key).str();
        what = "pytest collected no tests (pytest exit status 5)";
        look = "check workload.pytest and any -k or -m in workload.args";
        break;
    }
    const RunRecord& r = stop.first;
    std::string text = where + ": this looks like a configuration error, not a race: ";
    text += stop.runs == 1
                ? "the first run failed because "
                : "the first " + std::to_string(stop.runs) + " runs all failed the same way: ";
    text += what;
    if (stop.runs < planned)
        text += "; racehunt stopped the campaign early";
    text +=
        "\n  run " + std::to_string(r.run) + " (seed " + util::hex64(r.seed) + "): " + r.signature;
    for (std::size_t i = 0; i < r.reasons.size() && i < 2; ++i)
        text += "\n    " + r.reasons[i];
    if (!stop.output_tail.empty()) {
        text += "\n  the end of its output:";
        for (const auto& line : stop.output_tail)
            text += "\n    " + line;
    }
    if (r.artifacts)
        text += "\n  its files: " + *r.artifacts;
    text += "\n  " + look;
    text += "\n  (--no-config-check runs every run anyway)";
    return text;
}

CampaignResult run_campaign(const CampaignConfig& c, const std::vector<PlannedRun>& runs,
                            ProcessRunner& runner, util::AppendFile& jsonl, Console& console,
                            Cancellation& cancel, SummaryBuilder* summary) {
    CampaignResult result;
    std::mutex mutex;
    bool warned_write = false, warned_injection = false;

    // The configuration check watches the first runs to complete (all of them that complete
    // before it is settled, whatever -j is).
    ConfigCheck config_check(c.config_check ? config_check_runs(runs.size()) : 0);
    std::optional<ConfigStop> first_config_failure;
    auto watch_config = [&](const RunRecord& r) -> bool {
        if (!config_check.open())
            return false;
        std::string err, out;
        if (r.artifacts) {
            err = util::read_file(std::filesystem::path(*r.artifacts) / RACEHUNT_FILE_STDERR);
            if (util::last_lines(err, 1).empty())
                out = util::read_file(std::filesystem::path(*r.artifacts) / RACEHUNT_FILE_STDOUT);
        }
        auto cause = config_cause({c.scenario.kind, r.outcome, r.signature, r.exit_code, err});
        if (cause && !first_config_failure) {
            first_config_failure =
                ConfigStop{*cause, r, 0, util::last_lines(err.empty() ? out : err, 8)};
            first_config_failure->first.jitter = nlohmann::json();
            first_config_failure->first.counters = nlohmann::json();
        }
        return config_check.add(r.signature, cause);
    };

    PoolOptions po;
    po.jobs = c.jobs;
    po.stop_after = c.stop_after;
    po.time_budget = c.time_budget;

    auto execute = [&](std::uint64_t task, Cancellation& cx) -> TaskResult {
        const PlannedRun& planned = runs[task];
        ExecutedRun ex;
        try {
            ex = execute_run(c, runner, planned.index, planned.seed, cx);
        } catch (const std::exception& e) {
            // racehunt's own failure: recorded as an `error` run, never as the workload's
            // fault, and the campaign ends with exit status 3.
            ex.record.scenario = c.scenario.name;
            ex.record.run = planned.index;
            ex.record.seed = planned.seed;
            ex.record.outcome = Outcome::Error;
            ex.record.signature = "error:racehunt";
            ex.record.reasons = {std::string("racehunt internal error: ") + e.what()};
            ex.record.replay = replay_command(c, planned.seed);
            std::lock_guard lock(mutex);
            ++result.internal_errors;
        }
        if (ex.cancelled)
            return {true, false};
        std::lock_guard lock(mutex);
        if (jsonl.is_open() && !jsonl.write(ex.record.to_json().dump() + "\n")) {
            result.results_write_failed = true;
            if (!warned_write) {
                warned_write = true;
                console.warning("cannot append to " + jsonl.path().string() +
                                " (disk full?); results are kept in memory and in the summary");
            }
        }
        if (!ex.record.injected && !warned_injection && ex.record.outcome != Outcome::Error) {
            warned_injection = true;
            console.warning("run " + std::to_string(ex.record.run) +
                            ": the Python process did not load racehunt's bootstrap (-I or -S?); "
                            "such runs test nothing racehunt can see");
        }
        bool failed = is_failure(ex.record.outcome);
        const bool stop = watch_config(ex.record);
        if (summary) {
            summary->add(ex.record);
            return {false, failed, stop};
        }
        if (!failed) {
            // The summary needs a passing run's outcome, duration and warnings only; its
            // jitter and counters are in the JSONL line already. Dropping them keeps a long
            // campaign's memory small (measured: 2.7 KiB per run with them).
            ex.record.jitter = nlohmann::json();
            ex.record.counters = nlohmann::json();
        }
        result.records.push_back(std::move(ex.record));
        return {false, failed, stop};
    };

    result.pool = run_pool(runs.size(), po, execute, cancel,
                           [&](const PoolProgress& p) { console.progress(p); });
    // Stopped by the check; or ended sooner (--stop-after, --time-budget) with every run
    // so far failed the same configuration's way. An interruption settles nothing.
    if (result.pool.reason == StopReason::Stopped ||
        (result.pool.reason != StopReason::Cancelled && config_check.open() &&
         config_check.seen() > 0)) {
        result.config_stop = std::move(first_config_failure);
        result.config_stop->runs = config_check.seen();
    }
    return result;
}

} // namespace racehunt

#include "campaign/run_campaign.hpp"

#include "plan/seeds.hpp"

#include <mutex>

namespace racehunt {

std::vector<PlannedRun> plan_campaign(std::uint64_t campaign_seed, std::uint64_t total,
                                      std::uint64_t shard_k, std::uint64_t shard_n) {
    std::vector<PlannedRun> out;
    for (std::uint64_t i = shard_k - 1; i < total; i += shard_n)
        out.push_back({i, run_seed(campaign_seed, i)});
    return out;
}

CampaignResult run_campaign(const CampaignConfig& c, const std::vector<PlannedRun>& runs,
                            ProcessRunner& runner, util::AppendFile& jsonl, Console& console,
                            Cancellation& cancel, SummaryBuilder* summary) {
    CampaignResult result;
    std::mutex mutex;
    bool warned_write = false, warned_injection = false;

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
            std::lock_guard lock(mutex);
            ++result.internal_errors;
        }
        if (ex.cancelled)
            return {true, false};
        if (is_failure(ex.record.outcome))
            ex.record.replay = replay_command(c, ex.record.seed);
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
        if (summary) {
            summary->add(ex.record);
            return {false, failed};
        }
        if (!failed) {
            // The summary needs a passing run's outcome, duration and warnings only; its
            // jitter and counters are in the JSONL line already. Dropping them keeps a long
            // campaign's memory small (measured: 2.7 KiB per run with them).
            ex.record.jitter = nlohmann::json();
            ex.record.counters = nlohmann::json();
        }
        result.records.push_back(std::move(ex.record));
        return {false, failed};
    };

    result.pool = run_pool(runs.size(), po, execute, cancel,
                           [&](const PoolProgress& p) { console.progress(p); });
    return result;
}

} // namespace racehunt

#include "minimize/trials.hpp"

#include "pool/pool.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <mutex>

namespace racehunt {

namespace fs = std::filesystem;

Trials::Trials(const CampaignConfig& base, std::uint64_t seed, Cancellation& cancel,
               const std::atomic<bool>& interrupted)
    : base_(base), seed_(seed), cancel_(cancel), interrupted_(interrupted),
      runner_(make_runner(base, start_note_, &cancel)) {}

Tally Trials::run(const Trial& trial) {
    CampaignConfig c = base_;
    c.pins = trial.pins;
    c.trace = trial.trace;
    const int k = trial.k, n = trial.n;
    Tally t;
    std::mutex mutex;
    while (t.runs < n && (trial.measure || (t.matched < k && (n - t.runs) >= (k - t.matched)))) {
        if (interrupted_.load())
            break;
        // Never start more runs than could still change the verdict.
        const int batch = trial.measure ? std::min(c.jobs, n - t.runs) : std::min({c.jobs, n - t.runs, k - t.matched});
        PoolOptions po;
        po.jobs = c.jobs;
        std::vector<RunRecord> done;
        auto execute = [&](std::uint64_t, Cancellation& cx) -> TaskResult {
            std::uint64_t index;
            {
                std::lock_guard lock(mutex);
                index = next_index_++;
            }
            ExecutedRun ex = execute_run(c, *runner_, index, seed_, cx);
            if (ex.cancelled)
                return {true, false};
            std::lock_guard lock(mutex);
            done.push_back(std::move(ex.record));
            return {false, is_failure(done.back().outcome)};
        };
        run_pool(static_cast<std::uint64_t>(batch), po, execute, cancel_);
        for (auto& r : done) {
            ++t.runs;
            const bool failed = is_failure(r.outcome) && r.outcome != Outcome::Error;
            const bool match = failed && (trial.signature.empty() || r.signature == trial.signature);
            if (r.outcome == Outcome::Error)
                throw util::internal_error("racehunt minimize",
                                           "a run could not be carried out: " +
                                               (r.reasons.empty() ? r.signature : r.reasons[0]));
            if (failed && !match)
                t.signatures.push_back(r.signature);
            if (match && !t.first_match && trial.keep) {
                t.first_match = r;
            } else if (r.artifacts) {
                std::error_code ec;
                fs::remove_all(*r.artifacts, ec);
            }
            if (match)
                ++t.matched;
        }
    }
    return t;
}

} // namespace racehunt

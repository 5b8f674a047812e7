// The finished result model every reporter reads: per scenario and per signature, counts,
// failure rates with Wilson intervals, and the replay command of the first failing run.
#pragma once
#include "analysis/record.hpp"
#include "analysis/stats.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct SignatureStats {
    std::string signature;
    Outcome outcome = Outcome::Fail;
    std::uint64_t count = 0;
    double rate = 0;
    Interval interval;
    std::uint64_t first_run = 0, first_seed = 0; // the lowest failing run index
    std::string replay;
    std::vector<std::string> reasons;
    std::vector<std::string> excerpt; // the first failure's merged dump, in a few lines
    std::optional<std::string> artifacts;
};

struct ScenarioSummary {
    std::string name;
    std::string file;
    std::uint64_t planned = 0;
    std::uint64_t runs = 0;
    std::map<Outcome, std::uint64_t> outcomes;
    std::uint64_t failures = 0;
    double rate = 0;
    Interval interval;
    double upper_bound_rule_of_three = 0; // meaningful when failures == 0
    double upper_bound_95 = 0;            // exact (1 - 0.05^(1/n)); when failures == 0
    double elapsed_s = 0; // the campaign's wall time; 0 when not known (merged shards)
    std::vector<SignatureStats> signatures; // most frequent first
    std::vector<std::pair<std::string, std::uint64_t>> warnings; // distinct, with counts
    std::uint64_t not_injected = 0;
    double mean_duration_ms = 0;
    std::string python;                  // interpreter version, when known
    std::uint64_t campaign_seed = 0;
    std::optional<std::uint64_t> missing;    // merge: planned runs no shard recorded
    std::optional<std::uint64_t> duplicates; // merge: runs recorded more than once (ignored)
    std::vector<std::uint64_t> missing_examples; // merge: the first missing run indices
};

struct CampaignSummary {
    std::string version;
    std::uint64_t campaign_seed = 0;
    std::string profile;
    int jobs = 1;
    std::string stop_reason = "completed";
    bool interrupted = false;
    double elapsed_s = 0;
    std::vector<ScenarioSummary> scenarios;
    // --fail-threshold: a scenario whose failures are plausibly below this rate (the lower
    // end of its 95% interval is not above it) does not fail the campaign.
    std::optional<double> fail_threshold;

    bool passes_threshold(const ScenarioSummary& s) const {
        return fail_threshold && s.interval.low <= *fail_threshold;
    }
    // Exit status 1 is due: some scenario failed beyond the threshold.
    bool failed() const {
        for (const auto& s : scenarios)
            if (s.failures > 0 && !passes_threshold(s))
                return true;
        return false;
    }

    nlohmann::json to_json() const;
};

// Builds a scenario's summary from its run records in any order, one at a time, keeping
// only counts and the first (lowest-index) failure of each signature: `racehunt merge`
// streams a million lines through it. The result does not depend on the order of add().
class SummaryBuilder {
public:
    SummaryBuilder(std::string name, std::string file, std::uint64_t planned,
                   std::function<std::string(std::uint64_t seed)> replay = nullptr);
    void add(const RunRecord& r);
    ScenarioSummary finish() const;

private:
    ScenarioSummary s_;
    std::map<std::string, SignatureStats> by_sig_;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> warnings_; // count, first run
    double total_ms_ = 0;
    std::function<std::string(std::uint64_t)> replay_;
};

ScenarioSummary summarize(const std::vector<RunRecord>& records, const std::string& name,
                          const std::string& file, std::uint64_t planned,
                          const std::function<std::string(std::uint64_t seed)>& replay);

} // namespace racehunt

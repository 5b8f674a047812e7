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
    std::vector<SignatureStats> signatures; // most frequent first
    std::vector<std::pair<std::string, std::uint64_t>> warnings; // distinct, with counts
    std::uint64_t not_injected = 0;
    double mean_duration_ms = 0;
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

    nlohmann::json to_json() const;
};

ScenarioSummary summarize(const std::vector<RunRecord>& records, const std::string& name,
                          const std::string& file, std::uint64_t planned,
                          const std::function<std::string(std::uint64_t seed)>& replay);

} // namespace racehunt

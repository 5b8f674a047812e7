// Executes a list of planned runs over the pool and records each as it ends: the JSONL
// line is appended and flushed the moment a run is classified.
#pragma once
#include "analysis/config_check.hpp"
#include "campaign/campaign.hpp"
#include "pool/pool.hpp"
#include "report/console.hpp"
#include "report/summary.hpp"
#include "util/file.hpp"

#include <vector>

namespace racehunt {

struct PlannedRun {
    std::uint64_t index = 0;
    std::uint64_t seed = 0;
};

// The campaign stopped because its first runs all failed the same way for a reason that is
// the configuration's (analysis/config_check.hpp).
struct ConfigStop {
    ConfigCause cause = ConfigCause::MissingModule;
    RunRecord first;                      // the first of those runs to complete
    std::uint64_t runs = 0;               // how many runs failed that way
    std::vector<std::string> output_tail; // the end of its stderr (stdout when that is empty)
};

struct CampaignResult {
    std::vector<RunRecord> records; // in completion order; empty when a SummaryBuilder took them
    PoolSummary pool;
    bool results_write_failed = false;
    std::uint64_t internal_errors = 0; // runs racehunt itself failed to carry out
    std::optional<ConfigStop> config_stop; // set when c.config_check stopped the campaign
};

// With `summary`, each finished record goes into it and is not kept: a campaign's memory
// then stays flat however many runs it has (measured: 100,000 runs kept in memory took
// racehunt from 10 to 38 MiB, 52 MiB at the peak).
CampaignResult run_campaign(const CampaignConfig& c, const std::vector<PlannedRun>& runs,
                            ProcessRunner& runner, util::AppendFile& jsonl, Console& console,
                            Cancellation& cancel, SummaryBuilder* summary = nullptr);

// What to tell the user when the configuration check stopped a campaign of `planned` runs:
// the first line names the scenario's place to look (file:line:col) and says it looks like a
// configuration error, not a race; the next lines show the first run's error.
std::string describe_config_stop(const CampaignConfig& c, const ConfigStop& stop,
                                 std::uint64_t planned);

// The runs of campaign `seed` with `total` runs that shard k of n (1-based) executes:
// index i belongs to shard (i mod n) + 1, so shards interleave and every index is in
// exactly one shard. Without sharding, k = n = 1.
std::vector<PlannedRun> plan_campaign(std::uint64_t campaign_seed, std::uint64_t total,
                                      std::uint64_t shard_k = 1, std::uint64_t shard_n = 1);

} // namespace racehunt

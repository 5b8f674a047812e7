// Executes a list of planned runs over the pool and records each as it ends: the JSONL
// line is appended and flushed the moment a run is classified.
#pragma once
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

struct CampaignResult {
    std::vector<RunRecord> records; // in completion order; empty when a SummaryBuilder took them
    PoolSummary pool;
    bool results_write_failed = false;
    std::uint64_t internal_errors = 0; // runs racehunt itself failed to carry out
};

// With `summary`, each finished record goes into it and is not kept: a campaign's memory
// then stays flat however many runs it has (measured: 100,000 runs kept in memory took
// racehunt from 10 to 38 MiB, 52 MiB at the peak).
CampaignResult run_campaign(const CampaignConfig& c, const std::vector<PlannedRun>& runs,
                            ProcessRunner& runner, util::AppendFile& jsonl, Console& console,
                            Cancellation& cancel, SummaryBuilder* summary = nullptr);

// The runs of campaign `seed` with `total` runs that shard k of n (1-based) executes:
// index i belongs to shard (i mod n) + 1, so shards interleave and every index is in
// exactly one shard. Without sharding, k = n = 1.
std::vector<PlannedRun> plan_campaign(std::uint64_t campaign_seed, std::uint64_t total,
                                      std::uint64_t shard_k = 1, std::uint64_t shard_n = 1);

} // namespace racehunt

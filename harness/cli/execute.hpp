// What run and replay share: executing planned runs of a campaign, then recording,
// summarising and reporting them.
#pragma once
#include "campaign/run_campaign.hpp"
#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "report/summary.hpp"

#include <string>
#include <vector>

namespace racehunt {

// Executes `planned`, writes results.jsonl and the reports, prints the summary and chooses
// the exit status. `previous`: the records of a resumed campaign; `total_planned`: the
// shard's size when it differs from `planned`; `out` receives the summary.
ExitCode execute_and_report(const CampaignConfig& c, const std::vector<PlannedRun>& planned,
                            const RunOptions& o, Session& session, const std::string& header,
                            bool replay, std::vector<RunRecord> previous = {},
                            std::uint64_t total_planned = 0, CampaignSummary* out = nullptr);

// The interpreter (or program) the runs start, for a header line.
std::string describe_python(const CampaignConfig& c);

} // namespace racehunt

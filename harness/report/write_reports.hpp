// The files a finished campaign (run, a run of many scenarios, merge) leaves: summary.json
// in its directory, and the JSON summary and JUnit report where --json and --junit asked.
#pragma once
#include "report/summary.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace racehunt {

// Writes them (each atomically) and returns their paths, ", "-separated, for the console.
// Throws util::Error when one cannot be written.
std::string write_reports(const CampaignSummary& summary, const std::filesystem::path& dir,
                          const std::optional<std::filesystem::path>& json_file,
                          const std::optional<std::filesystem::path>& junit_file);

} // namespace racehunt

// One finished run as every reporter sees it; one JSONL line (README.md, "Command line": results).
#pragma once
#include "analysis/outcome.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct RunRecord {
    std::string scenario;
    std::uint64_t run = 0; // index in the campaign
    std::uint64_t seed = 0;
    Outcome outcome = Outcome::Pass;
    int exit_code = -1;
    int signal = 0;
    double duration_ms = 0;
    std::string signature;
    nlohmann::json jitter = nlohmann::json::object();
    std::optional<std::string> artifacts;
    // Beyond the contract's fields:
    std::vector<std::string> reasons;
    std::vector<std::string> warnings;
    bool injected = true;
    std::string python; // interpreter version the run used, when known
    std::string start;  // "fork-server" for a run forked from a fork server; "" for a fresh start
    nlohmann::json counters = nlohmann::json::object(); // per-layer injection counts
    std::vector<std::string> excerpt; // a failing run's merged dump, in a few lines
    // Which campaign the run belongs to, so that shards can be merged and checked:
    // its seed and how many runs it has in all (every shard).
    std::uint64_t campaign_seed = 0;
    std::uint64_t planned = 0;
    std::string replay; // a failing run's replay command (empty for passing runs)
    // A failure after a Python yield at a point where the interpreter under test (a GIL
    // build) never switches threads by itself (yields.semantics = "free-threaded"): it may
    // need a free-threaded build. Its signature says so, and so its bucket is apart.
    bool needs_free_threading = false;

    nlohmann::json to_json() const;
    // Throws nlohmann::json::exception on a line that is not a run record.
    static RunRecord from_json(const nlohmann::json& j);
};

} // namespace racehunt

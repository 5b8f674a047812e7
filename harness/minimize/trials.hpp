// Runs of one seed under a candidate's pins, several at a time, with the verdict decided as
// soon as it is certain. Every call builds its own configuration from the campaign's, which
// nothing here changes: one trial's pins or tracing never leak into the next.
#pragma once
#include "campaign/campaign.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct Trial {
    std::shared_ptr<const Pins> pins; // null: the seed's own perturbations, unpinned
    int k = 1, n = 1;                 // up to n runs; a verdict once k runs matched
    std::string signature;            // what a matching failure looks like; empty: any failure
    bool keep = false;    // keep the artifacts of the first matching run (the others go)
    bool measure = false; // all n runs are made: a rate, not a verdict
    bool trace = false;   // trace focus code, for a readable interleaving
};

struct Tally {
    int runs = 0, matched = 0;
    std::optional<RunRecord> first_match; // with Trial::keep
    std::vector<std::string> signatures;  // of failures that did not match
};

class Trials {
public:
    // Starts the campaign's runner (a fork server, when it asks for one): a preload the
    // server refuses is a usage error (util::Error) here.
    Trials(const CampaignConfig& base, std::uint64_t seed, Cancellation& cancel,
           const std::atomic<bool>& interrupted);

    // Why a fork-server campaign starts its runs fresh (empty when it does not).
    const std::string& start_note() const { return start_note_; }

    // Runs until `trial.k` runs failed with its signature, or that can no longer happen
    // within `trial.n` runs, or until interrupted. A run racehunt could not carry out is an
    // internal error (util::Error).
    Tally run(const Trial& trial);

    std::uint64_t runs_made() const { return next_index_; }

private:
    const CampaignConfig& base_;
    std::uint64_t seed_;
    Cancellation& cancel_;
    const std::atomic<bool>& interrupted_;
    std::string start_note_;
    std::unique_ptr<ProcessRunner> runner_;
    std::uint64_t next_index_ = 0;
};

} // namespace racehunt

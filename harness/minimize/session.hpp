// One minimization of a failing run, end to end:
//
// 1. Replay the seed until it fails; that run's perturbations (switch interval, shim
//    decisions, Python yields, asyncio loop decisions) are the starting set, its signature
//    is "the failure".
// 2. Every candidate subset is judged by runs pinned to it (only those perturbations are
//    applied): it reproduces when K of N runs fail with the same signature (--confirm).
// 3. The empty set first (did the failure need any perturbation?), then whole layers, then
//    groups (one thread's decisions), then ddmin down to single decisions.
// 4. The result is measured once more (--final-runs) and written as a .pins file.
//
// It says how it goes through callbacks and returns what there is to print; the command
// (cli/cmd_minimize.cpp) prints it.
#pragma once
#include "campaign/campaign.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace racehunt {

struct MinimizeRequest {
    std::uint64_t seed = 0;
    int k = 3, n = 5;    // a candidate reproduces when k of n runs fail the same way
    int final_runs = 20; // runs that measure the result's rate
    Nanos budget{0};     // no new candidate after this long
    bool resume = false; // continue the session journalled in the output directory
};

struct MinimizeHooks {
    std::function<void(const std::string&)> progress; // a line of progress (may be silenced)
    std::function<void(const std::string&)> notice;   // a line always worth showing
    Cancellation& cancel;
    const std::atomic<bool>& interrupted;
};

struct MinimizeResult {
    enum class End {
        Interrupted, // nothing to report
        NoFailure,   // the seed did not fail in `search_runs` replays
        Done,
    } end = End::Done;
    int search_runs = 0;
    std::string signature;
    std::filesystem::path failing_run; // empty when its artifacts were not kept
    Pins all, minimal;
    bool complete = false; // minimal is 1-minimal; else the smallest set found in time
    std::string note;      // why the result is what it is, when that needs saying
    std::size_t candidates = 0; // candidates tested (earlier verdicts not counted)
    std::uint64_t runs = 0;     // runs made in all
    int final_matched = 0, final_runs = 0;
    std::optional<std::filesystem::path> interleaving; // of a failing traced replay
    std::filesystem::path pins_file, journal;
    std::chrono::steady_clock::time_point start;
};

// Minimizes run `request.seed` of the campaign `base` (its output directory holds the
// journal, the .pins file and the interleaving). Throws util::Error: Usage for a journal
// that cannot be resumed, Internal for a run racehunt could not carry out.
MinimizeResult minimize_seed(const CampaignConfig& base, const MinimizeRequest& request,
                             const MinimizeHooks& hooks);

} // namespace racehunt

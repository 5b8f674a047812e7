// `racehunt minimize`: shrink a failing run to the perturbations that matter. The search is
// minimize/session.hpp's; this reads the command line and prints the result, with the
// replay command that applies exactly the minimal set.
#include "analysis/stats.hpp"
#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "minimize/items.hpp"
#include "minimize/session.hpp"
#include "util/duration.hpp"
#include "util/strings.hpp"

#include <chrono>
#include <cstdio>

namespace racehunt {

namespace {

std::string percent_interval(int k, int n) {
    Interval iv = wilson_interval(static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(n));
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.0f%% [%.0f–%.0f%%, 95%% Wilson]", n ? 100.0 * k / n : 0.0,
                  100 * iv.low, 100 * iv.high);
    return buf;
}

void print_result(const MinimizeResult& r, const CampaignConfig& c, std::uint64_t seed) {
    const Pins& minimal = r.minimal;
    std::printf("racehunt minimize: %s, seed %s\n", c.scenario.name.c_str(), util::hex64(seed).c_str());
    std::printf("  failure: %s\n", r.signature.c_str());
    std::printf("  started from %s; %zu candidate(s) tested in %.0f s, %llu run(s)\n",
                count_layers(r.all).c_str(), r.candidates,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count(),
                static_cast<unsigned long long>(r.runs));
    if (!r.note.empty())
        std::printf("  %s\n", r.note.c_str());
    if (!r.failing_run.empty())
        std::printf("  the failing run: %s\n", r.failing_run.c_str());
    std::printf("\n%s set: %s\n", r.complete ? "minimal" : "smallest", count_layers(minimal).c_str());
    int number = 0;
    if (minimal.switch_interval)
        std::printf("  %d. %s\n", ++number, describe_switch_interval(*minimal.switch_interval).c_str());
    for (const auto& p : minimal.yields)
        std::printf("  %d. %s\n", ++number, describe(p).c_str());
    for (const auto& p : minimal.shim)
        std::printf("  %d. %s\n", ++number, describe(p).c_str());
    for (const auto& p : minimal.loop)
        std::printf("  %d. %s\n", ++number, describe(p).c_str());
    std::printf("reproduces %d/%d: %s\n", r.final_matched, r.final_runs,
                percent_interval(r.final_matched, r.final_runs).c_str());
    std::printf("written: %s, %s\n", r.pins_file.c_str(), r.journal.c_str());
    if (r.interleaving)
        std::printf("interleaving of a failing replay: %s (and .html)\n", r.interleaving->c_str());
    std::printf("minimal: %zu perturbation(s), reproduces %d/%d\n", minimal.size(), r.final_matched,
                r.final_runs);
}

} // namespace

ExitCode cmd_minimize(const std::vector<std::string>& args, Session& session) {
    const SeedCommand sc = prepare_seed_command(args, CommandKind::Minimize);
    const RunOptions& o = sc.options;
    MinimizeRequest request;
    request.seed = sc.seed;
    const std::pair<int, int> confirm = o.confirm ? parse_confirm(*o.confirm) : std::pair<int, int>{3, 5};
    request.k = confirm.first;
    request.n = confirm.second;
    request.final_runs = static_cast<int>(o.final_runs.value_or(20));
    request.budget = o.time_budget ? *util::parse_duration(*o.time_budget) : Nanos(std::chrono::minutes(10));
    request.resume = o.resume_minimize;
    const MinimizeHooks hooks{
        [&](const std::string& line) {
            if (!o.quiet)
                std::fprintf(stderr, "racehunt: %s\n", line.c_str());
        },
        [](const std::string& line) { std::fprintf(stderr, "racehunt: %s\n", line.c_str()); },
        session.cancel, session.interrupted};

    const MinimizeResult r = minimize_seed(sc.config, request, hooks);
    if (r.end == MinimizeResult::End::Interrupted)
        return ExitCode::Interrupted;
    if (r.end == MinimizeResult::End::NoFailure) {
        std::printf("seed %s did not fail in %d run(s): nothing to minimize\n", util::hex64(sc.seed).c_str(),
                    r.search_runs);
        return ExitCode::Ok;
    }
    print_result(r, sc.config, sc.seed);
    // The replay of exactly the minimal set, as many times as it was measured.
    CampaignConfig replay = sc.config;
    replay.pins_arg = r.pins_file.string();
    replay.pins = nullptr;
    std::printf("%s --repeat %d\n", replay_command(replay, sc.seed).c_str(), request.final_runs);
    return ExitCode::Failures;
}

} // namespace racehunt

// `racehunt replay`: one run re-created from its run seed, as many times as asked.
#include "cli/cli.hpp"
#include "cli/execute.hpp"
#include "cli/options.hpp"
#include "util/strings.hpp"

namespace racehunt {

ExitCode cmd_replay(const std::vector<std::string>& args, Session& session) {
    SeedCommand sc = prepare_seed_command(args, CommandKind::Replay);
    const RunOptions& o = sc.options;
    const CampaignConfig& c = sc.config;
    const Scenario& s = c.scenario;
    const std::uint64_t seed = sc.seed;
    // Every repeat re-creates the same run: same seed, so same perturbation choices.
    std::vector<PlannedRun> planned;
    for (std::uint64_t i = 0; i < c.runs; ++i)
        planned.push_back({i, seed});
    std::string header = "racehunt: replaying " + s.name + " seed " + util::hex64(seed) + " " +
                         std::to_string(c.runs) + " time(s), -j " + std::to_string(c.jobs) +
                         ", profile " + c.profile + ", " + describe_python(c);
    return execute_and_report(c, planned, o, session, header, true);
}

} // namespace racehunt

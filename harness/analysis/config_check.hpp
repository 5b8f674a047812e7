// Telling a configuration error from a race: a failed run whose cause is the scenario's
// setup (a module that is not installed, an invariant that cannot be evaluated, a command
// line the workload rejects) fails every run the same way, and running the rest of the
// campaign only reports it as a "100% race". The first runs decide; pure logic, so that
// the unit tests drive it without starting Python.
#pragma once
#include "analysis/outcome.hpp"
#include "scenario/scenario.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace racehunt {

// Why a failed run looks like the configuration's fault.
enum class ConfigCause {
    MissingModule,  // ModuleNotFoundError anywhere, ImportError at a module's top level,
                    // `python -m` of a module that is not there
    InvariantError, // an invariant raised while being evaluated (NameError, ...)
    UsageError,     // exit status 2 with an argparse-style "usage:" on stderr
    PytestUsage,    // pytest exit status 4: bad command line, or the test was not found
    PytestNoTests,  // pytest exit status 5: no test was collected
};
const char* to_string(ConfigCause c);

// The facts of one finished run the decision needs.
struct RunFacts {
    WorkloadKind kind = WorkloadKind::Script;
    Outcome outcome = Outcome::Pass;
    std::string signature;
    int exit_code = -1;
    std::string_view stderr_text; // the end of the run's stderr is enough
};

// The cause when the run failed for a reason that is the configuration's; nullopt for a
// pass and for every failure that may be the workload's own (an AssertionError, a hang, a
// crash, a broken invariant, any other exit status).
std::optional<ConfigCause> config_cause(const RunFacts& run);

// The early stop: once at least `needed` runs have completed and every run completed so far
// failed with the same signature for a configuration cause, the campaign stops. One run
// that did anything else (passed, failed differently) settles it for good: the campaign
// then runs to its end. `needed` = 0 turns the check off.
class ConfigCheck {
  public:
    explicit ConfigCheck(std::uint64_t needed) : needed_(needed), open_(needed > 0) {}

    // Still undecided: add() may yet return true.
    bool open() const { return open_; }
    // One completed run, in completion order. True exactly once: when the campaign should
    // stop now.
    bool add(const std::string& signature, std::optional<ConfigCause> cause);
    std::uint64_t seen() const { return seen_; }
    std::optional<ConfigCause> cause() const { return cause_; }

  private:
    std::uint64_t needed_;
    bool open_;
    std::uint64_t seen_ = 0;
    std::string signature_;
    std::optional<ConfigCause> cause_;
};

// How many first runs decide, for a campaign of `planned` runs: min(planned, 3). Three
// identical failures of a configuration cause are already telling; a campaign of fewer
// runs is judged on all of them.
std::uint64_t config_check_runs(std::uint64_t planned);

} // namespace racehunt

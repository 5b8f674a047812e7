// Telling a configuration error from a race: the classifier of one run, the early-stop
// decision over the first runs, and the messages that name the scenario's place.
#include "analysis/config_check.hpp"
#include "campaign/run_campaign.hpp"
#include "campaign/preflight.hpp"
#include "pool/pool.hpp"
#include "scenario/scenario.hpp"
#include "util/strings.hpp"

#include <gtest/gtest.h>

#include <atomic>

using namespace racehunt;

namespace {

RunFacts failed(std::string signature, int exit_code = 1, std::string_view err = {},
                WorkloadKind kind = WorkloadKind::Script) {
    RunFacts f;
    f.kind = kind;
    f.outcome = Outcome::Fail;
    f.signature = std::move(signature);
    f.exit_code = exit_code;
    f.stderr_text = err;
    return f;
}

const char* kArgparse =
    "usage: w.py [-h] --n N\nw.py: error: the following arguments are required: --n\n";

} // namespace

TEST(ConfigCause, ModuleNotFoundAnywhereIsMissingModule) {
    EXPECT_EQ(config_cause(failed("fail:ModuleNotFoundError@w.py:<module>")),
              ConfigCause::MissingModule);
    EXPECT_EQ(config_cause(failed("fail:ModuleNotFoundError@test_x.py:test_a")),
              ConfigCause::MissingModule);
}

TEST(ConfigCause, ImportErrorOnlyAtModuleTopLevel) {
    EXPECT_EQ(config_cause(failed("fail:ImportError@w.py:<module>")), ConfigCause::MissingModule);
    // From inside a function: perhaps a lazy import two threads raced to.
    EXPECT_EQ(config_cause(failed("fail:ImportError@w.py:load_plugin")), std::nullopt);
}

TEST(ConfigCause, AnAssertionErrorIsNeverTheConfigurations) {
    EXPECT_EQ(config_cause(failed("fail:AssertionError@bank.py:<module>")), std::nullopt);
    EXPECT_EQ(config_cause(failed("fail:AssertionError@test_bank.py:test_transfer", 1, {},
                                  WorkloadKind::Pytest)),
              std::nullopt);
    EXPECT_EQ(config_cause(failed("fail:mypkg.ModuleNotFoundError@w.py:<module>")), std::nullopt);
}

TEST(ConfigCause, AnInvariantThatRaisesIsTheConfigurations) {
    EXPECT_EQ(config_cause(failed("fail:invariant-error:x == 2000", 0)),
              ConfigCause::InvariantError);
    // A broken invariant is what a race looks like.
    EXPECT_EQ(config_cause(failed("fail:invariant:x == 2000", 0)), std::nullopt);
}

TEST(ConfigCause, ExitStatus2IsAUsageErrorOnlyWithAUsageMessage) {
    EXPECT_EQ(config_cause(failed("fail:exit-code:2", 2, kArgparse)), ConfigCause::UsageError);
    EXPECT_EQ(
        config_cause(failed("fail:exit-code:2", 2, "Usage: tool [OPTIONS]\nTry 'tool --help'\n")),
        ConfigCause::UsageError);
    EXPECT_EQ(config_cause(
                  failed("fail:exit-code:2", 2,
                         "/usr/bin/python3: can't open file '/x/nope.py': [Errno 2] No such file\n",
                         WorkloadKind::Command)),
              ConfigCause::UsageError);
    EXPECT_EQ(config_cause(failed("fail:exit-code:2", 2, "lost 3 updates\n")), std::nullopt);
    EXPECT_EQ(config_cause(failed("fail:exit-code:2", 2, "the usage: counter went wrong\n")),
              std::nullopt);
    EXPECT_EQ(config_cause(failed("fail:exit-code:1", 1, kArgparse)), std::nullopt);
}

TEST(ConfigCause, PytestExitStatus4And5OnlyForPytestWorkloads) {
    EXPECT_EQ(config_cause(failed("fail:exit-code:4", 4, "ERROR: not found: t.py::x\n",
                                  WorkloadKind::Pytest)),
              ConfigCause::PytestUsage);
    EXPECT_EQ(config_cause(failed("fail:exit-code:5", 5, {}, WorkloadKind::Pytest)),
              ConfigCause::PytestNoTests);
    EXPECT_EQ(config_cause(failed("fail:exit-code:4", 4)), std::nullopt);
    EXPECT_EQ(config_cause(failed("fail:exit-code:5", 5)), std::nullopt);
    // A failing test is pytest's exit status 1: the test's own failure.
    EXPECT_EQ(config_cause(failed("fail:exit-code:1", 1, {}, WorkloadKind::Pytest)), std::nullopt);
}

TEST(ConfigCause, PythonDashMOfAMissingModule) {
    EXPECT_EQ(
        config_cause(failed("fail:exit-code:1", 1, "/usr/bin/python3: No module named nosuch\n",
                            WorkloadKind::Module)),
        ConfigCause::MissingModule);
    EXPECT_EQ(
        config_cause(failed("fail:exit-code:1", 1, "/usr/bin/python3: No module named nosuch\n")),
        std::nullopt);
}

TEST(ConfigCause, PassHangCrashAndErrorAreNeverConfigurationErrors) {
    for (Outcome o : {Outcome::Pass, Outcome::Hang, Outcome::Crash, Outcome::Error}) {
        RunFacts f = failed("fail:ModuleNotFoundError@w.py:<module>");
        f.outcome = o;
        EXPECT_EQ(config_cause(f), std::nullopt) << to_string(o);
    }
}

TEST(ConfigCheck, StopsWhenTheFirstKRunsFailTheSameConfigurationWay) {
    ConfigCheck check(3);
    EXPECT_FALSE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
    EXPECT_FALSE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
    EXPECT_TRUE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
    EXPECT_FALSE(check.open());
    EXPECT_EQ(check.seen(), 3u);
    EXPECT_EQ(check.cause(), ConfigCause::InvariantError);
    // Decided once: later runs change nothing.
    EXPECT_FALSE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
}

TEST(ConfigCheck, APassingRunSettlesItForGood) {
    ConfigCheck check(3);
    EXPECT_FALSE(check.add("fail:ModuleNotFoundError@w.py:<module>", ConfigCause::MissingModule));
    EXPECT_FALSE(check.add("", std::nullopt));
    EXPECT_FALSE(check.open());
    for (int i = 0; i < 5; ++i)
        EXPECT_FALSE(
            check.add("fail:ModuleNotFoundError@w.py:<module>", ConfigCause::MissingModule));
}

TEST(ConfigCheck, DifferentFailuresAreNotOneConfigurationError) {
    ConfigCheck check(3);
    EXPECT_FALSE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
    EXPECT_FALSE(check.add("fail:invariant-error:y", ConfigCause::InvariantError));
    EXPECT_FALSE(check.open());
    EXPECT_FALSE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
}

TEST(ConfigCheck, ARaceThatFailsEveryRunIsNotStopped) {
    ConfigCheck check(3);
    for (int i = 0; i < 10; ++i)
        EXPECT_FALSE(check.add("fail:AssertionError@bank.py:<module>", std::nullopt));
}

TEST(ConfigCheck, ZeroRunsNeededTurnsItOff) {
    ConfigCheck check(0);
    EXPECT_FALSE(check.open());
    EXPECT_FALSE(check.add("fail:invariant-error:x", ConfigCause::InvariantError));
}

TEST(ConfigCheck, ASingleRunCampaignIsJudgedOnItsRun) {
    ConfigCheck check(config_check_runs(1));
    EXPECT_TRUE(check.add("fail:exit-code:2", ConfigCause::UsageError));
}

TEST(ConfigCheck, TheFirstThreeRunsDecide) {
    EXPECT_EQ(config_check_runs(1), 1u);
    EXPECT_EQ(config_check_runs(2), 2u);
    EXPECT_EQ(config_check_runs(3), 3u);
    EXPECT_EQ(config_check_runs(500), 3u);
}

TEST(Pool, ATaskThatAsksToStopEndsThePoolAsStopped) {
    Cancellation cancel;
    PoolOptions o;
    o.jobs = 1;
    std::atomic<int> executed{0};
    auto s = run_pool(
        100, o,
        [&](std::uint64_t i, Cancellation&) {
            ++executed;
            return TaskResult{false, true, i == 2};
        },
        cancel);
    EXPECT_EQ(executed.load(), 3);
    EXPECT_EQ(s.reason, StopReason::Stopped);
    EXPECT_EQ(s.not_started, 97u);
    EXPECT_STREQ(to_string(s.reason), "stopped");
}

TEST(Util, LastLinesSkipsBlankLinesAndTrailingSpace) {
    EXPECT_EQ(util::last_lines("a\n\n  b  \r\n\nc\n\n", 2), (std::vector<std::string>{"  b", "c"}));
    EXPECT_EQ(util::last_lines("one", 5), (std::vector<std::string>{"one"}));
    EXPECT_TRUE(util::last_lines(" \n\t\n", 3).empty());
}

namespace {

const char* kTwoInvariants = "[workload]\n"
                             "script = \"w.py\"\n"
                             "[check]\n"
                             "invariants = [\"x == 1\",\n"
                             "              \"x == = 2000\"]\n";

} // namespace

TEST(Preflight, EachInvariantHasItsOwnLocation) {
    Scenario s = parse_scenario(kTwoInvariants, "dir/scenario.toml");
    EXPECT_EQ(s.where("check.invariants[0]").str(), "dir/scenario.toml:4:15");
    EXPECT_EQ(s.where("check.invariants[1]").str(), "dir/scenario.toml:5:15");
}

TEST(Preflight, ASyntaxErrorNamesTheElementAndPythonsMessage) {
    Scenario s = parse_scenario(kTwoInvariants, "dir/scenario.toml");
    std::string where, hint;
    auto m =
        invariant_error_message("[1, \"SyntaxError\", \"invalid syntax\", 6]\n", s, where, hint);
    ASSERT_TRUE(m);
    EXPECT_EQ(where, "dir/scenario.toml:5:15");
    EXPECT_EQ(*m, "check.invariants[1]: invalid syntax: x == = 2000");
    EXPECT_NE(hint.find("column 6"), std::string::npos) << hint;
}

TEST(Preflight, NothingToReportWhenEveryInvariantCompiles) {
    Scenario s = parse_scenario(kTwoInvariants, "dir/scenario.toml");
    std::string where, hint;
    EXPECT_FALSE(invariant_error_message("null\n", s, where, hint));
    EXPECT_FALSE(invariant_error_message("", s, where, hint));
    EXPECT_FALSE(invariant_error_message("[7, \"SyntaxError\", \"x\", 0]\n", s, where,
                                         hint)); // no such element
}

TEST(ConfigStopMessage, NamesTheInvariantsPlaceAndSaysItIsNotARace) {
    CampaignConfig c;
    c.scenario = parse_scenario(kTwoInvariants, "dir/scenario.toml");
    ConfigStop stop;
    stop.cause = ConfigCause::InvariantError;
    stop.runs = 3;
    stop.first.run = 0;
    stop.first.signature = "fail:invariant-error:x == 1";
    stop.first.reasons = {
        "invariant could not be evaluated: x == 1 -> NameError: name 'x' is not defined"};
    const std::string text = describe_config_stop(c, stop, 100);
    EXPECT_EQ(
        text.rfind("dir/scenario.toml:4:15: this looks like a configuration error, not a race", 0),
        0u)
        << text;
    EXPECT_NE(text.find("NameError: name 'x' is not defined"), std::string::npos) << text;
    EXPECT_NE(text.find("stopped the campaign early"), std::string::npos) << text;
    EXPECT_NE(text.find("--no-config-check"), std::string::npos) << text;
}

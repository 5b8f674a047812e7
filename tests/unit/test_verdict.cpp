// The rules of the verdict that need more than the run and its reports: a full file system,
// and the merged dump naming a hang's or a crash's place.
#include "analysis/verdict.hpp"

#include "run_fixtures.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>

using namespace racehunt;
using racehunt::test::ended;
using racehunt::test::root_report;

namespace {

DumpThread thread(const std::string& name, const std::string& file, const std::string& function) {
    DumpThread t;
    t.name = name;
    t.frames = {{file, 3, function, false}};
    return t;
}

// Two threads waiting for each other's lock.
MergedDump deadlock() {
    MergedDump d;
    DumpProcess p;
    p.pid = 100;
    p.threads = {thread("a", "/w/bank.py", "transfer"), thread("b", "/w/bank.py", "audit")};
    p.cycle = {"a", "b", "a"};
    d.processes.push_back(p);
    d.top_frame = "bank.py:transfer";
    d.deadlock = true;
    return d;
}

MergedDump at(const std::string& top) {
    MergedDump d;
    DumpProcess p;
    p.pid = 100;
    p.threads = {thread("MainThread", "/w/main.py", "main")};
    d.processes.push_back(p);
    d.top_frame = top;
    return d;
}

} // namespace

TEST(Verdict, AHangIsBucketedByTheDumpsFrameAndADeadlockApart) {
    const std::vector<PyProcessReport> reports{root_report()};
    const RunResult hung = ended(-1, 0, true);
    Outcome asked = Outcome::Pass;
    int calls = 0;
    Verdict v = judge({.run = hung, .reports = reports, .check = CheckSpec{},
                       .dump = [&](Outcome o) { asked = o, ++calls; return deadlock(); }});
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(asked, Outcome::Hang);
    EXPECT_EQ(v.outcome, Outcome::Hang);
    EXPECT_EQ(v.signature, "hang:deadlock@bank.py:transfer");
    ASSERT_EQ(v.reasons.size(), 2u);
    EXPECT_EQ(v.reasons[0], "timed out: the run did not finish within its timeout");
    EXPECT_EQ(v.reasons[1].rfind("deadlock: ", 0), 0u) << v.reasons[1];
    ASSERT_TRUE(v.dump.has_value());

    Verdict plain = judge({.run = hung, .reports = reports, .check = CheckSpec{},
                           .dump = [](Outcome) { return at("worker.py:spin"); }});
    EXPECT_EQ(plain.signature, "hang@worker.py:spin");
    EXPECT_EQ(plain.reasons.size(), 1u);
}

TEST(Verdict, ACrashTakesTheFrameAFailKeepsItsOwnSignature) {
    const std::vector<PyProcessReport> reports{root_report()};
    const RunResult crashed = ended(-1, SIGSEGV);
    Verdict c = judge({.run = crashed, .reports = reports, .check = CheckSpec{},
                       .dump = [](Outcome) { return at("ext.py:call"); }});
    EXPECT_EQ(c.signature, "crash:SIGSEGV@ext.py:call");

    const RunResult failed = ended(3);
    Verdict f = judge({.run = failed, .reports = reports, .check = CheckSpec{},
                       .dump = [](Outcome) { return at("ext.py:call"); }});
    EXPECT_EQ(f.outcome, Outcome::Fail);
    EXPECT_EQ(f.signature, "fail:exit-code:3");
    EXPECT_TRUE(f.dump.has_value()); // a fail's dump is still built, for dump.txt

    // An empty top frame leaves the signature as the run decided it.
    Verdict none = judge({.run = crashed, .reports = reports, .check = CheckSpec{},
                          .dump = [](Outcome) { return at(""); }});
    EXPECT_EQ(none.signature, "crash:SIGSEGV");
}

TEST(Verdict, APassOrAnErrorBuildsNoDump) {
    const std::vector<PyProcessReport> reports{root_report()};
    int calls = 0;
    auto count = [&](Outcome) { ++calls; return at("x.py:f"); };
    const RunResult passed = ended(0);
    EXPECT_EQ(judge({.run = passed, .reports = reports, .check = CheckSpec{}, .dump = count}).outcome,
              Outcome::Pass);
    RunResult lost = ended(0);
    lost.status_lost = true;
    EXPECT_EQ(judge({.run = lost, .reports = reports, .check = CheckSpec{}, .dump = count}).signature,
              "error:status-lost");
    EXPECT_EQ(calls, 0);
}

TEST(Verdict, ADumpThatCannotBeBuiltLeavesTheVerdictStanding) {
    const std::vector<PyProcessReport> reports{root_report()};
    const RunResult hung = ended(-1, 0, true);
    Verdict v = judge({.run = hung, .reports = reports, .check = CheckSpec{},
                       .dump = [](Outcome) -> MergedDump { throw std::runtime_error("torn pystacks"); }});
    EXPECT_EQ(v.outcome, Outcome::Hang);
    EXPECT_EQ(v.signature, "hang");
    EXPECT_FALSE(v.dump.has_value());
    EXPECT_EQ(v.dump_error, "torn pystacks");
}

TEST(Verdict, NoReportOnAFullFileSystemIsRacehuntsError) {
    const std::vector<PyProcessReport> none;
    const RunResult exited = ended(0);
    int asked = 0;
    Verdict v = judge({.run = exited, .reports = none, .check = CheckSpec{}, .root_is_python = true,
                       .run_dir = "/out/.work/1-00", .run_dir_full = [&] { return ++asked, true; }});
    EXPECT_EQ(asked, 1);
    EXPECT_EQ(v.outcome, Outcome::Error);
    EXPECT_EQ(v.signature, "error:run-dir-full");
    ASSERT_FALSE(v.reasons.empty());
    EXPECT_EQ(v.reasons[0], "the file system of /out/.work/1-00 is full: the run's injectors could not "
                            "report, so racehunt cannot tell what the workload did");
    EXPECT_TRUE(v.warnings.empty()); // not "the bootstrap was not loaded"
    EXPECT_TRUE(v.injected);

    // With room on the disk the same run is a workload that never loaded the bootstrap.
    Verdict room = judge({.run = exited, .reports = none, .check = CheckSpec{}, .root_is_python = true,
                          .run_dir = "/out/.work/1-00", .run_dir_full = [] { return false; }});
    EXPECT_EQ(room.outcome, Outcome::Pass);
    EXPECT_FALSE(room.injected);

    // The space is not asked of a run that reported, timed out, or is not Python's.
    const std::vector<PyProcessReport> reports{root_report()};
    const RunResult hung = ended(-1, 0, true);
    asked = 0;
    auto full = [&] { return ++asked, true; };
    judge({.run = exited, .reports = reports, .check = CheckSpec{}, .run_dir_full = full});
    judge({.run = hung, .reports = none, .check = CheckSpec{}, .run_dir_full = full});
    judge({.run = exited, .reports = none, .check = CheckSpec{}, .root_is_python = false, .run_dir_full = full});
    EXPECT_EQ(asked, 0);
}

// A calmed run (RunResult::overtime > 0): busy at its timeout under racehunt's perturbation,
// the harness turned the perturbation off and gave it more time.
TEST(Verdict, ACalmedRunThatPassesIsSlowAndNeitherAPassNorAFailure) {
    const std::vector<PyProcessReport> reports{root_report()};
    int dumps = 0;
    auto count = [&](Outcome) { ++dumps; return at("x.py:f"); };
    RunResult passed = ended(0);
    passed.overtime = std::chrono::seconds(2);
    Verdict slow = judge({.run = passed, .reports = reports, .check = CheckSpec{}, .dump = count});
    EXPECT_EQ(slow.outcome, Outcome::Slow);
    EXPECT_EQ(slow.signature, "slow");
    EXPECT_FALSE(is_failure(slow.outcome));
    ASSERT_EQ(slow.reasons.size(), 1u);
    EXPECT_NE(slow.reasons[0].find("given 2s more, then finished and passed"), std::string::npos)
        << slow.reasons[0];
    EXPECT_EQ(dumps, 0); // no dump, no artifacts: not a failure

    // Calmed, then failed: the failure stands, and says it ran past its timeout.
    RunResult failed = ended(1);
    failed.overtime = std::chrono::seconds(2);
    Verdict fail = judge({.run = failed, .reports = reports, .check = CheckSpec{}, .dump = count});
    EXPECT_EQ(fail.outcome, Outcome::Fail);
    EXPECT_EQ(fail.signature, "fail:exit-code:1");
    EXPECT_NE(fail.reasons[0].find("given 2s more, then finished"), std::string::npos) << fail.reasons[0];

    // Calmed, and still running at the end of the grace: a hang that says so.
    RunResult hung = ended(-1, 0, true);
    hung.overtime = std::chrono::seconds(5);
    Verdict hang = judge({.run = hung, .reports = reports, .check = CheckSpec{}, .dump = count});
    EXPECT_EQ(hang.outcome, Outcome::Hang);
    EXPECT_EQ(hang.signature, "hang@x.py:f");
    ASSERT_EQ(hang.reasons.size(), 2u);
    EXPECT_NE(hang.reasons[1].find("given 5s more and still did not finish"), std::string::npos)
        << hang.reasons[1];
    EXPECT_EQ(dumps, 2);
}

TEST(Verdict, SlowIsAnOutcomeOfItsOwnByName) {
    EXPECT_EQ(std::string(to_string(Outcome::Slow)), "slow");
    EXPECT_EQ(outcome_from_string("slow"), Outcome::Slow);
}

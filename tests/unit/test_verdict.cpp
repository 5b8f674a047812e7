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

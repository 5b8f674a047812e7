#include "analysis/run_dir.hpp"
#include "analysis/verdict.hpp"

#include "run_fixtures.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace racehunt;
using racehunt::test::ended;
using racehunt::test::root_report;
namespace fs = std::filesystem;

namespace {

ExceptionReport worker_exception() {
    ExceptionReport x;
    x.thread = "Worker-2";
    x.type = "IndexError";
    x.message = "pop from empty list";
    x.frames = {{"/w/run.py", 10, "run"}, {"/w/queue_work.py", 31, "take"}};
    return x;
}

} // namespace

TEST(Classify, CleanExitIsPass) {
    Verdict v = classify(ended(0), {root_report()}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Pass);
    EXPECT_TRUE(v.signature.empty());
    EXPECT_TRUE(v.injected);
}

TEST(Classify, WrongExitCodeIsFail) {
    Verdict v = classify(ended(3), {root_report()}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Fail);
    EXPECT_EQ(v.signature, "fail:exit-code:3");
}

TEST(Classify, ExpectedNonZeroExitCodePasses) {
    CheckSpec c;
    c.exit_code = 3;
    EXPECT_EQ(classify(ended(3), {root_report()}, c, true).outcome, Outcome::Pass);
}

TEST(Classify, ThreadExceptionIsFailWithTypeAndInnermostFrame) {
    PyProcessReport p = root_report();
    p.exceptions.push_back(worker_exception());
    Verdict v = classify(ended(0), {p}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Fail);
    EXPECT_EQ(v.signature, "fail:IndexError@queue_work.py:take");
    ASSERT_FALSE(v.reasons.empty());
    EXPECT_NE(v.reasons[0].find("\"Worker-2\""), std::string::npos);
    EXPECT_NE(v.reasons[0].find("queue_work.py:31 in take()"), std::string::npos);
}

TEST(Classify, ThreadExceptionsIgnoredWhenAsked) {
    PyProcessReport p = root_report();
    p.exceptions.push_back(worker_exception());
    CheckSpec c;
    c.thread_exceptions = "ignore";
    EXPECT_EQ(classify(ended(0), {p}, c, true).outcome, Outcome::Pass);
}

TEST(Classify, BrokenInvariantIsFailNamingTheExpression) {
    PyProcessReport p = root_report();
    p.invariants.push_back({"account.balance == 1000", false, "False", ""});
    Verdict v = classify(ended(0), {p}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Fail);
    EXPECT_EQ(v.signature, "fail:invariant:account.balance == 1000");
    EXPECT_NE(v.reasons[0].find("invariant broken: account.balance == 1000"), std::string::npos);
}

TEST(Classify, InvariantThatCannotBeEvaluatedIsFail) {
    PyProcessReport p = root_report();
    p.invariants.push_back({"acount.balance == 1", false, "", "NameError: name 'acount' is not defined"});
    Verdict v = classify(ended(0), {p}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Fail);
    EXPECT_NE(v.signature.find("invariant-error"), std::string::npos);
}

TEST(Classify, LeakedThreadFailsWarnsOrIsIgnored) {
    PyProcessReport p = root_report();
    p.leaked_threads.push_back({"Worker-17", false});
    Verdict fail = classify(ended(0), {p}, CheckSpec{}, true);
    EXPECT_EQ(fail.outcome, Outcome::Fail);
    EXPECT_EQ(fail.signature, "fail:leaked-thread:Worker-N");
    CheckSpec warn;
    warn.leaked_threads = "warn";
    Verdict w = classify(ended(0), {p}, warn, true);
    EXPECT_EQ(w.outcome, Outcome::Pass);
    EXPECT_FALSE(w.warnings.empty());
    CheckSpec ignore;
    ignore.leaked_threads = "ignore";
    EXPECT_TRUE(classify(ended(0), {p}, ignore, true).warnings.empty());
}

TEST(Classify, TimeoutIsHangEvenWithAnException) {
    RunResult r = ended(-1);
    r.exit_code = -1;
    r.timed_out = true;
    r.signal = SIGTERM;
    PyProcessReport p = root_report();
    p.exceptions.push_back(worker_exception());
    Verdict v = classify(r, {p}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Hang);
    EXPECT_EQ(v.signature, "hang");
    EXPECT_GE(v.reasons.size(), 2u); // the timeout, and the exception that explains it
}

TEST(Classify, KilledBySignalIsCrash) {
    RunResult r = ended(-1);
    r.exit_code = -1;
    r.signal = SIGSEGV;
    Verdict v = classify(r, {root_report()}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Crash);
    EXPECT_EQ(v.signature, "crash:SIGSEGV");
}

TEST(Classify, SpawnFailureIsError) {
    RunResult r;
    r.spawn_error = "execve: No such file";
    Verdict v = classify(r, {}, CheckSpec{}, true);
    EXPECT_EQ(v.outcome, Outcome::Error);
}

TEST(Classify, MissingRootReportMeansNotInjected) {
    Verdict v = classify(ended(0), {}, CheckSpec{}, true);
    EXPECT_FALSE(v.injected);
    EXPECT_FALSE(v.warnings.empty());
    // A command workload's root is not Python: no report is expected from it.
    EXPECT_TRUE(classify(ended(0), {}, CheckSpec{}, false).injected);
}

TEST(PyReports, ReadsEventsAndSkipsTruncatedLastLine) {
    fs::path dir = fs::temp_directory_path() / "racehunt-outcome-test";
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "py-100.jsonl")
        << R"({"event":"start","pid":100,"ppid":1,"role":"root","python":"3.11.7","argv":["a.py"],"switch_interval":1e-06,"yields":"off"})"
        << "\n"
        << R"({"event":"exception","thread":"W","ident":1,"native_id":2,"main":false,"type":"KeyError","message":"'k'","frames":[["/w/a.py",3,"f"]]})"
        << "\n"
        << R"({"event":"invariant","expr":"x == 1","ok":false,"value":"False","error":null})"
        << "\n"
        << R"({"event":"exit","counters":{"yields":4)";
    auto reports = read_run_dir(dir).reports;
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].python, "3.11.7");
    EXPECT_DOUBLE_EQ(*reports[0].switch_interval, 1e-6);
    ASSERT_EQ(reports[0].exceptions.size(), 1u);
    EXPECT_EQ(reports[0].exceptions[0].frames[0].function, "f");
    ASSERT_EQ(reports[0].invariants.size(), 1u);
    EXPECT_FALSE(reports[0].exited); // the truncated exit line was not taken
}

TEST(Classify, AsyncioWarningsFailWarnOrAreIgnored) {
    PyProcessReport p = root_report();
    PyProcessReport::AsyncioWarning w;
    w.kind = "unretrieved-exception";
    w.message = "Task exception was never retrieved";
    w.task = "fetch-3";
    w.type = "ValueError";
    w.exception = "bad\nreply";
    w.frames = {{"/app/client.py", 12, "fetch"}};
    p.asyncio_warnings.push_back(w);
    PyProcessReport::AsyncioWarning never;
    never.kind = "never-awaited";
    never.message = "coroutine 'save' was never awaited";
    never.coroutine = "save";
    p.asyncio_warnings.push_back(never);

    CheckSpec fail;
    fail.asyncio_warnings = "fail";
    Verdict f = classify(ended(0), {p}, fail, true);
    EXPECT_EQ(f.outcome, Outcome::Fail);
    EXPECT_EQ(f.signature, "fail:asyncio:unretrieved-exception:ValueError@client.py:fetch");
    ASSERT_EQ(f.reasons.size(), 2u);
    EXPECT_EQ(f.reasons[0], "asyncio: task \"fetch-3\"'s exception was never retrieved: ValueError: "
                            "bad reply at client.py:12 in fetch()");
    EXPECT_EQ(f.reasons[1], "asyncio: coroutine 'save' was never awaited");

    Verdict w2 = classify(ended(0), {p}, CheckSpec{}, true); // "warn" is the default
    EXPECT_EQ(w2.outcome, Outcome::Pass);
    EXPECT_EQ(w2.warnings.size(), 2u);

    CheckSpec ignore;
    ignore.asyncio_warnings = "ignore";
    Verdict i = classify(ended(0), {p}, ignore, true);
    EXPECT_EQ(i.outcome, Outcome::Pass);
    EXPECT_TRUE(i.warnings.empty());
}

TEST(PyReports, AsyncioWarningsAndFailureLoopsAreRead) {
    fs::path dir = fs::temp_directory_path() / ("rh-aio-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "py-5.jsonl")
        << R"({"event":"start","pid":5,"ppid":1,"role":"root","python":"3.12.1"})" "\n"
        << R"({"event":"asyncio_warning","kind":"destroyed-pending","message":"Task was destroyed but it is pending!","task":"t","frames":[["/a.py",3,"f"]]})" "\n"
        << R"({"event":"check_failed","message":"m","ident":9,"threads":[{"name":"MainThread","ident":9,"frames":[]}],"loops":[{"thread":9,"tasks":[{"name":"w","frames":[]}]}]})" "\n";
    auto reps = read_run_dir(dir).reports;
    fs::remove_all(dir);
    ASSERT_EQ(reps.size(), 1u);
    ASSERT_EQ(reps[0].asyncio_warnings.size(), 1u);
    EXPECT_EQ(reps[0].asyncio_warnings[0].kind, "destroyed-pending");
    EXPECT_EQ(reps[0].asyncio_warnings[0].frames.size(), 1u);
    ASSERT_TRUE(reps[0].failure_snapshot.contains("loops"));
    EXPECT_EQ(reps[0].failure_snapshot["loops"][0]["tasks"][0]["name"], "w");
}

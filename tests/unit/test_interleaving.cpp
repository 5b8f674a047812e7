// Conflicting accesses in a controlled schedule: which pairs count, which are ordered by
// start/join or protected by a common lock, and which form an interleaving.
#include "analysis/interleaving.hpp"
#include "analysis/run_dir.hpp"
#include "util/file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace racehunt;
namespace fs = std::filesystem;

namespace {

RunDir failure_files(const fs::path& dir) {
    RunDir run = read_run_dir(dir);
    read_failure_files(run);
    return run;
}

// A control log with two workers updating `self.n` at w.py:10 (read) and w.py:11 (write),
// started and joined by the main thread; `lock` adds an acquire/release around each pair.
struct LogBuilder {
    std::string text = "# racehunt-control 1 strategy=pct depth=3 steps=0 switches=0 lost=no\n"
                       "# thread 0 MainThread\n# thread 1 w-1\n# thread 2 w-2\n";
    std::uint64_t step = 0;
    void add(int thread, const std::string& where, const std::string& kind) {
        text += std::to_string(++step) + "\t" + std::to_string(thread) + "\t" + where + "\t" + kind + "\t0\n";
    }
    void note(int thread, const std::string& kind) {
        text += std::to_string(step) + "\t" + std::to_string(thread) + "\t-\t" + kind + "\t0\n";
    }
    void read(int t) { add(t, "/w/w.py:10", "line"); }
    void write(int t) { add(t, "/w/w.py:11", "line"); }
    void acquire(int t) {
        add(t, "-", "acquire L1");
        note(t, "acquired L1");
    }
    void release(int t) { add(t, "-", "release L1"); }
    ControlLog finish() {
        text += "# access /w/w.py:10\tr\t.n\tself.n\n";
        text += "# access /w/w.py:11\tw\t.n\tself.n\n";
        text += "# access /w/w.py:5\tw\t.n\tself.n\n";
        fs::path dir = fs::temp_directory_path() / ("rh-ilv-" + std::to_string(::getpid()));
        fs::create_directories(dir);
        fs::path file = dir / "control-4242.log";
        util::write_file_atomic(file, text);
        auto log = read_control_log(file);
        fs::remove_all(dir);
        EXPECT_TRUE(log);
        return log ? *log : ControlLog{};
    }
};

} // namespace

TEST(Conflicts, LostUpdateIsAnInterleaving) {
    LogBuilder b;
    b.add(0, "/w/w.py:5", "line"); // main initialises self.n before starting anyone
    b.add(0, "-", "start w-1");
    b.add(0, "-", "start w-2");
    b.read(1);
    b.read(2);
    b.write(2);
    b.write(1); // w-1 writes back a value read before w-2's write: lost update
    b.add(0, "-", "join w-1");
    b.note(0, "joined w-1");
    b.add(0, "-", "join w-2");
    b.note(0, "joined w-2");
    b.add(0, "/w/w.py:10", "line"); // main reads after both joins: ordered
    ControlLog log = b.finish();
    auto conflicts = find_conflicts(log).conflicts;
    // w-2 read after w-1 read: no write, no conflict. w-2 write after w-1 read: conflict.
    // w-1 write after w-2 write: conflict, interleaved (w-1 read, w-2 write, w-1 write).
    ASSERT_EQ(conflicts.size(), 2u);
    EXPECT_EQ(log.steps[conflicts[0].first].thread, 1u);
    EXPECT_EQ(log.steps[conflicts[0].second].thread, 2u);
    EXPECT_FALSE(conflicts[0].local);
    const Conflict& lost = conflicts[1];
    ASSERT_TRUE(lost.local);
    EXPECT_EQ(log.steps[*lost.local].thread, 1u);
    EXPECT_EQ(lost.l.rw, 'r');
    EXPECT_EQ(log.steps[lost.first].thread, 2u);
    EXPECT_EQ(lost.a.rw, 'w');
    EXPECT_EQ(log.steps[lost.second].thread, 1u);
    EXPECT_EQ(lost.b.rw, 'w');
    EXPECT_EQ(lost.key, ".n");
}

TEST(Conflicts, ACommonLockMakesTheSameOrderHarmless) {
    LogBuilder b;
    b.add(0, "-", "start w-1");
    b.add(0, "-", "start w-2");
    b.acquire(1);
    b.read(1);
    b.write(1);
    b.release(1);
    b.acquire(2);
    b.read(2);
    b.write(2);
    b.release(2);
    ControlLog log = b.finish();
    EXPECT_TRUE(find_conflicts(log).conflicts.empty());
}

TEST(Conflicts, StartAndJoinOrderAccesses) {
    LogBuilder b;
    b.add(0, "/w/w.py:5", "line");
    b.add(0, "-", "start w-1");
    b.write(1);
    b.add(0, "-", "join w-1");
    b.note(0, "joined w-1");
    b.add(0, "/w/w.py:5", "line");
    ControlLog log = b.finish();
    EXPECT_TRUE(find_conflicts(log).conflicts.empty());
    // Without the join note the same accesses race.
    LogBuilder c;
    c.add(0, "-", "start w-1");
    c.write(1);
    c.add(0, "/w/w.py:5", "line");
    ControlLog unjoined = c.finish();
    EXPECT_EQ(find_conflicts(unjoined).conflicts.size(), 1u);
}

TEST(Conflicts, TheTextMarksTheInterleavedSteps) {
    LogBuilder b;
    b.add(0, "-", "start w-1");
    b.add(0, "-", "start w-2");
    b.read(1);
    b.write(2);
    b.write(1);
    fs::path dir = fs::temp_directory_path() / ("rh-ilv-text-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    b.text += "# access /w/w.py:10\tr\t.n\tself.n\n# access /w/w.py:11\tw\t.n\tself.n\n";
    util::write_file_atomic(dir / "control-7.log", b.text);
    std::string text = render_interleaving(failure_files(dir), "t");
    fs::remove_all(dir);
    EXPECT_NE(text.find("conflicting accesses: 2, of which 1 interleaved"), std::string::npos) << text;
    EXPECT_NE(text.find("interleaved: step 3 w-1 reads self.n (w.py:10); step 4 w-2 writes self.n (w.py:11); "
                        "step 5 w-1 writes self.n (w.py:11)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("!5 "), std::string::npos) << text;
}

TEST(Conflicts, MemoryStaysBoundedOnALongSchedule) {
    // Two threads alternating on one datum for 20,000 steps: every step conflicts, only the
    // last few are kept, and the counts are exact.
    LogBuilder b;
    b.add(0, "-", "start w-1");
    b.add(0, "-", "start w-2");
    for (int i = 0; i < 10000; ++i) {
        b.write(1);
        b.write(2);
    }
    ControlLog log = b.finish();
    ConflictScan scan = find_conflicts(log, 8);
    EXPECT_EQ(scan.total, 19999u);
    EXPECT_LE(scan.conflicts.size(), 16u);
    EXPECT_EQ(scan.conflicts.back().second, log.steps.size() - 1);
}

TEST(Conflicts, ATimedOutJoinOrdersNothing) {
    LogBuilder b;
    b.add(0, "-", "start w-1");
    b.add(0, "-", "join w-1"); // join(timeout) that returned before w-1 finished: no note
    b.write(1);
    b.add(0, "/w/w.py:5", "line");
    ControlLog log = b.finish();
    EXPECT_EQ(find_conflicts(log).total, 1u);
}

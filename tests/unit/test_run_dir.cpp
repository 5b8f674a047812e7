// Reading a run directory written in the injectors' real formats (docs/PROTOCOL.md), as
// processes killed mid-write leave it.
#include "analysis/decisions.hpp"
#include "analysis/dump.hpp"
#include "analysis/interleaving.hpp"
#include "analysis/run_dir.hpp"
#include "protocol.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace racehunt;
namespace fs = std::filesystem;

namespace {

struct RunDirFixture : ::testing::Test {
    fs::path dir;
    void SetUp() override {
        dir = fs::temp_directory_path() /
              ("rh-rundir-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir / name, std::ios::binary) << text;
    }
    void write_bytes(const std::string& name, const void* data, std::size_t n) {
        std::ofstream(dir / name, std::ios::binary).write(static_cast<const char*>(data),
                                                          static_cast<std::streamsize>(n));
    }
};

racehunt_shim_counters counters(std::uint64_t key, std::uint32_t flags, const char* exe) {
    racehunt_shim_counters c;
    std::memset(&c, 0, sizeof c);
    c.magic = RACEHUNT_SHIM_MAGIC;
    c.version = RACEHUNT_PROTOCOL_VERSION;
    c.process_key = key;
    c.flags = flags;
    c.images = 1;
    std::strncpy(c.exe, exe, sizeof c.exe - 1);
    return c;
}

} // namespace

TEST_F(RunDirFixture, ReportsComeRootFirstAndATornLastLineIsSkipped) {
    // A child (pid 7) and the root (pid 300): the root comes first whatever the pid order.
    write("py-7.jsonl",
          R"({"event":"start","pid":7,"ppid":300,"role":"child","python":"3.12.1"})" "\n"
          R"({"event":"exit","counters":{"yields":2},"threads_seen":[[70,"MainThread"],[71,"w-1"]]})" "\n");
    // The root's exit line was cut short by a kill: its counters so far stand.
    write("py-300.jsonl",
          R"({"event":"start","pid":300,"ppid":1,"role":"root","python":"3.11.7","argv":["a.py"]})" "\n"
          R"({"event":"counters","counters":{"yields":5}})" "\n"
          R"({"event":"exit","counters":{"yields":9)");
    // No start event: not a report.
    write("py-9.jsonl", R"({"event":"warning","message":"early"})" "\n");
    RunDir run = read_run_dir(dir);
    ASSERT_EQ(run.reports.size(), 2u);
    EXPECT_EQ(run.reports[0].pid, 300);
    EXPECT_EQ(run.reports[0].role, "root");
    EXPECT_FALSE(run.reports[0].exited);
    EXPECT_EQ(run.reports[0].counters["yields"], 5);
    EXPECT_EQ(run.reports[1].pid, 7);
    EXPECT_TRUE(run.reports[1].exited);
    EXPECT_EQ(run.threads_seen[7][71], "w-1");
    EXPECT_FALSE(run.failure_files); // a passing run reads no more than this
    EXPECT_TRUE(run.pystacks.empty());
}

TEST_F(RunDirFixture, EventsAreJsonNotTheWritersSpacing) {
    // The same events as json.dumps writes them with its default separators: a search for
    // "event":"start" would miss both the start and its dump_signal.
    write("py-41.jsonl",
          "{\"event\": \"start\", \"pid\": 41, \"ppid\": 1, \"role\": \"root\", \"dump_signal\": 41}\n"
          "{\"event\": \"exit\", \"counters\": {}, \"threads_seen\": [[410, \"MainThread\"]]}\n");
    RunDir run = read_run_dir(dir);
    ASSERT_EQ(run.reports.size(), 1u);
    EXPECT_EQ(run.reports[0].role, "root");
    EXPECT_TRUE(run.reports[0].exited);
    EXPECT_EQ(run.threads_seen[41][410], "MainThread");
    EXPECT_TRUE(registered_dump_signal(dir / "py-41.jsonl"));
}

TEST_F(RunDirFixture, TheLatestStartSaysWhetherTheDumpSignalIsRegistered) {
    // An image that registered the signal, then an exec'd image that did not.
    write("py-5.jsonl", R"({"event":"start","pid":5,"dump_signal":41})" "\n"
                        R"({"event":"start","pid":5})" "\n");
    EXPECT_FALSE(registered_dump_signal(dir / "py-5.jsonl"));
    // A torn line after a complete start does not count as a start.
    write("py-6.jsonl", R"({"event":"start","pid":6,"dump_signal":41})" "\n"
                        R"({"event":"start","pid)");
    EXPECT_TRUE(registered_dump_signal(dir / "py-6.jsonl"));
    EXPECT_FALSE(registered_dump_signal(dir / "py-404.jsonl"));
    auto events = read_events(dir / "py-6.jsonl");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["pid"], 6);
}

TEST_F(RunDirFixture, ShimCountersSkipFilesCutShortInStartUp) {
    racehunt_shim_counters armed = counters(0xabc, RACEHUNT_SHIM_FLAG_ENABLED | RACEHUNT_SHIM_FLAG_ARMED, "python3.11");
    armed.calls[0] = 10;
    armed.yields[0] = 3;
    write_bytes("shim-10.bin", &armed, sizeof armed);
    racehunt_shim_counters never = counters(0xdef, RACEHUNT_SHIM_FLAG_ENABLED, "python3");
    never.calls[1] = 4;
    write_bytes("shim-11.bin", &never, sizeof never);
    // Killed before the counters were laid out: too short to count.
    racehunt_shim_counters torn = counters(0x1, 0, "sh");
    torn.calls[0] = 1000;
    write_bytes("shim-12.bin", &torn, 16);
    RunDir run = read_run_dir(dir);
    EXPECT_EQ(run.shim.processes, 2u);
    EXPECT_EQ(run.shim.calls, 14u);
    EXPECT_EQ(run.shim.yields, 3u);
    EXPECT_EQ(run.shim.python_never_armed, 1u);
    EXPECT_EQ(run.shim.detail["processes"], 2);
}

TEST_F(RunDirFixture, FailureFilesFeedTheDumpTheDecisionsAndTheInterleaving) {
    write("py-20.jsonl",
          R"({"event":"start","pid":20,"ppid":1,"role":"root","argv":["w.py"]})" "\n"
          R"({"event":"exit","counters":{},"threads_seen":[[201,"worker"]]})" "\n");
    write("threads-20.jsonl", R"({"live":[{"ident":1,"name":"MainThread","native_id":200,"daemon":false}]})" "\n"
                              R"({"begin":2,"name":"worker","native_id":201,"daemon":false})" "\n");
    write("pystacks-20.json", R"({"threads":[{"ident":2,"name":"worker","frames":[["/w/w.py",7,"work"]]}]})");
    // Cut short by the kill: read as absent, not as an error.
    write("pystacks-21.json", R"({"threads":[{"ident")");
    write("faulthandler-20.txt", "Thread 0x0000000000000001 (most recent call first):\n"
                                 "  File \"/w/main.py\", line 3 in <module>\n");
    racehunt_shim_counters c = counters(0x77, RACEHUNT_SHIM_FLAG_ENABLED | RACEHUNT_SHIM_FLAG_ARMED, "python3");
    c.tids[1] = 201;
    write_bytes("shim-20.bin", &c, sizeof c);
    struct {
        racehunt_dlog_header h;
        racehunt_dlog_record r[2];
    } dlog{};
    dlog.h = {RACEHUNT_DLOG_MAGIC, RACEHUNT_PROTOCOL_VERSION, 2, sizeof(racehunt_dlog_record), 2, 20, 0};
    dlog.r[0] = {1, 4, 0, RACEHUNT_DLOG_YIELD, 1, 0, 0};
    dlog.r[1] = {1, 5, 0, 0, 1, 0, 0}; // being written when the process was killed
    write_bytes("shim-20.dlog", &dlog, sizeof dlog);
    // A yields log whose last line was cut short, as the kill leaves it.
    write("yields-20.log", "# racehunt-yields 1 key=00000000000000aa\n"
                           "1\t/w/w.py:7\t3\tworker\n"
                           "1\t/w/w.py:7\t9");
    write("control-20.log", "# racehunt-control 1 strategy=pct depth=3 steps=2 switches=1 lost=no\n"
                            "# thread 0 MainThread\n# thread 1 worker\n"
                            "1\t0\t/w/main.py:3\tline\t0\n2\t1\t/w/w.py:7\tline\t0\n");
    write("control-22.log", "not a control log\n");

    RunDir run = read_run_dir(dir);
    read_failure_files(run);
    EXPECT_TRUE(run.failure_files);
    EXPECT_TRUE(run.pystacks[21].is_null());
    EXPECT_EQ(run.control_log_names.size(), 2u);
    ASSERT_EQ(run.control_logs.size(), 1u);
    EXPECT_EQ(run.control_logs[0].pid, 20);

    MergedDump d = build_dump(run, Outcome::Hang, 20);
    ASSERT_EQ(d.processes.size(), 1u);
    EXPECT_EQ(d.processes[0].source, "stacks from the dump signal, with lock analysis");
    // The worker from the Python dump, the main thread from faulthandler, named by the map.
    ASSERT_EQ(d.processes[0].threads.size(), 2u);
    EXPECT_EQ(d.top_frame, "main.py:<module>");

    Pins pins = collect_decisions(run, std::nullopt);
    ASSERT_EQ(pins.shim.size(), 1u);
    EXPECT_EQ(pins.shim[0].key, 0x77u);
    EXPECT_EQ(pins.shim[0].thread_name, "worker"); // tid 201 by the exit event's threads_seen
    // The torn yield line is kept as far as it goes, as the log's reader always took it.
    ASSERT_EQ(pins.yields.size(), 2u);
    EXPECT_EQ(pins.yields[0].key, 0xaau);
    EXPECT_EQ(pins.yields[1].visit, 9u);
    // The directory read from its path gives the same pins.
    EXPECT_EQ(pins_to_text(collect_decisions(dir, std::nullopt), "t"), pins_to_text(pins, "t"));

    const std::string text = render_decisions(run, 0.001, "run 1, seed 2");
    EXPECT_NE(text.find("shim: 2 perturbation(s)"), std::string::npos) << text;
    EXPECT_NE(text.find("Python yield points: 2 yield(s) taken"), std::string::npos) << text;
    EXPECT_NE(render_interleaving(run, "t").find("process 20: strategy=pct"), std::string::npos);
}

TEST_F(RunDirFixture, TheThreadLogReplaysIntoTheLiveThreads) {
    write("threads-30.jsonl",
          R"({"live":[{"ident":1,"name":"MainThread","native_id":300,"daemon":false,"started_at":1.0}]})" "\n"
          R"({"begin":2,"name":"a","native_id":301,"daemon":false,"started_at":2.0})" "\n"
          R"({"begin":3,"name":"b","native_id":302,"daemon":true,"started_at":3.0})" "\n"
          R"({"end":2})" "\n"
          // An ident reused by a new thread: the newer thread replaces the older.
          R"({"begin":3,"name":"c","native_id":303,"daemon":false,"started_at":4.0})" "\n"
          R"({"begin":4,"name":"cut sh)");
    // A snapshot replaces everything before it (a thread renamed after it began).
    write("threads-31.jsonl",
          R"({"live":[{"ident":1,"name":"MainThread","native_id":310}]})" "\n"
          R"({"begin":2,"name":"old","native_id":311})" "\n"
          R"({"live":[{"ident":1,"name":"MainThread","native_id":310},{"ident":2,"name":"renamed","native_id":311}]})" "\n");
    write("threads-32.jsonl", "");
    RunDir run = read_run_dir(dir);
    read_failure_files(run);
    const auto& t = run.thread_maps[30];
    ASSERT_TRUE(t.is_array());
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[0]["name"], "MainThread");
    EXPECT_EQ(t[1]["name"], "c");
    EXPECT_EQ(t[1]["ident"], 3);
    EXPECT_EQ(t[1]["native_id"], 303);
    EXPECT_FALSE(t[1].contains("begin"));
    ASSERT_EQ(run.thread_maps[31].size(), 2u);
    EXPECT_EQ(run.thread_maps[31][1]["name"], "renamed");
    EXPECT_TRUE(run.thread_maps[32].is_null());
}

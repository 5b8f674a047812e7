#include "analysis/dump.hpp"
#include "analysis/run_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace racehunt;
namespace fs = std::filesystem;

namespace {

// The directory as a failing run's dump reads it, with the report the test wrote by hand.
RunDir run_with(const fs::path& dir, const PyProcessReport& rep) {
    RunDir run = read_run_dir(dir);
    read_failure_files(run);
    run.reports = {rep};
    return run;
}

// Written by faulthandler.register(all_threads=True) on Python 3.11: two dumps in one file
// (the second replaces the first), a thread without Python frames, a truncated stack.
const char* kTwoDumps = R"(Thread 0x00007f00000000aa (most recent call first):
  File "/x/old.py", line 1 in old

Thread 0x00007f0000000002 (most recent call first):
  File "/app/bank.py", line 31 in transfer
  File "/usr/lib/python3.11/threading.py", line 975 in run

Current thread 0x00007f0000000001 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 1139 in _wait_for_tstate_lock
  File "/app/main.py", line 9 in <module>

Thread 0x00007f0000000003 (most recent call first):
  <no Python frame>
Thread 0x00007f00000000aa (most recent call first):
  File "/x/newer.py", line 2 in newer
)";

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/racehunt-dump-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
    }
};

} // namespace

TEST(Faulthandler, ParsesThreadsFramesInnermostLastAndKeepsOnlyTheLastDump) {
    FaultDump d = parse_faulthandler(kTwoDumps);
    EXPECT_TRUE(d.fatal_error.empty());
    // 0x...aa appears again: a second dump started there, and only it is kept.
    ASSERT_EQ(d.threads.size(), 1u);
    EXPECT_EQ(d.threads[0].ident, 0x7f00000000aaULL);
    ASSERT_EQ(d.threads[0].frames.size(), 1u);
    EXPECT_EQ(d.threads[0].frames[0].function, "newer");
}

TEST(Faulthandler, ReadsAFatalErrorWithCurrentThreadAndNoFrameThreads) {
    const std::string text = "Fatal Python error: Segmentation fault\n\n"
                             "Thread 0x00007f0000000003 (most recent call first):\n"
                             "  <no Python frame>\n\n"
                             "Current thread 0x00007f0000000001 (most recent call first):\n"
                             "  File \"/usr/lib/python3.11/ctypes/__init__.py\", line 519 in string_at\n"
                             "  File \"/app/w.py\", line 3 in peek\n"
                             "  File \"/app/w.py\", line 4 in <module>\n\n"
                             "Extension modules: _ctypes (total: 1)\n";
    FaultDump d = parse_faulthandler(text);
    EXPECT_EQ(d.fatal_error, "Segmentation fault");
    ASSERT_EQ(d.threads.size(), 2u);
    EXPECT_TRUE(d.threads[0].no_python_frame);
    EXPECT_FALSE(d.threads[0].current);
    const FaultThread& cur = d.threads[1];
    EXPECT_TRUE(cur.current);
    ASSERT_EQ(cur.frames.size(), 3u);
    EXPECT_EQ(cur.frames.front().function, "<module>");
    EXPECT_EQ(cur.frames.back().function, "string_at");
    EXPECT_EQ(cur.frames.back().line, 519);
    EXPECT_TRUE(cur.frames.back().library);
    EXPECT_FALSE(cur.frames.front().library);
}

TEST(Faulthandler, EmptyOrForeignTextGivesNothing) {
    EXPECT_TRUE(parse_faulthandler("").threads.empty());
    EXPECT_TRUE(parse_faulthandler("hello\n  File \"x\", line 1 in y\n").threads.empty());
}

TEST(LibraryFiles, StdlibSitePackagesAndOursAreLibraryTheWorkloadIsNot) {
    EXPECT_TRUE(is_library_file("/usr/lib/python3.11/threading.py"));
    EXPECT_TRUE(is_library_file("/root/.pyenv/versions/3.8.18/lib/python3.8/queue.py"));
    EXPECT_TRUE(is_library_file("/venv/lib/python3.12/site-packages/requests/api.py"));
    EXPECT_TRUE(is_library_file("/usr/lib/python3/dist-packages/yaml/__init__.py"));
    EXPECT_TRUE(is_library_file("/opt/racehunt/python/_racehunt_server.py"));
    EXPECT_TRUE(is_library_file("/opt/racehunt/python/_racehunt/installer.py"));
    EXPECT_TRUE(is_library_file("<frozen importlib._bootstrap>"));
    EXPECT_FALSE(is_library_file("/home/u/project/bank.py"));
    EXPECT_FALSE(is_library_file("/home/u/python3-notes/app.py"));
}

TEST(MergedDump, FaulthandlerStacksGetPythonNamesDaemonFlagsAndOsNames) {
    TempDir dir;
    dir.write("faulthandler-42.txt", "Current thread 0x0000000000000001 (most recent call first):\n"
                                     "  File \"/app/main.py\", line 9 in <module>\n\n"
                                     "Thread 0x0000000000000002 (most recent call first):\n"
                                     "  File \"/app/bank.py\", line 31 in transfer\n\n"
                                     "Thread 0x0000000000000003 (most recent call first):\n"
                                     "  <no Python frame>\n");
    dir.write("threads-42.jsonl",
              R"({"live":[{"name":"MainThread","ident":1,"native_id":42,"daemon":false}]})" "\n"
              R"({"begin":2,"name":"worker-with-a-name-of-forty-characters!","native_id":43,"daemon":true})" "\n");
    dir.write("processes.json",
              R"({"processes":[{"pid":42,"ppid":1,"comm":"python3","cmdline":["python3","main.py"],)"
              R"("tasks":[{"tid":42,"comm":"python3"},{"tid":43,"comm":"python3"},{"tid":44,"comm":"io-pump"}]},)"
              R"({"pid":50,"ppid":42,"comm":"sh","cmdline":["sh","-c","sleep 9"],"tasks":[{"tid":50,"comm":"sh"}]}]})");
    PyProcessReport rep;
    rep.pid = 42;
    rep.ppid = 1;
    rep.role = "root";
    MergedDump d = build_dump(run_with(dir.path, rep), Outcome::Hang, 42);
    ASSERT_EQ(d.processes.size(), 2u);
    const DumpProcess& p = d.processes[0];
    EXPECT_EQ(p.pid, 42);
    EXPECT_EQ(p.command, "python3 main.py");
    ASSERT_EQ(p.threads.size(), 3u);
    EXPECT_EQ(p.threads[0].name, "MainThread");
    EXPECT_TRUE(p.threads[0].main);
    EXPECT_EQ(d.top_frame, "main.py:<module>");
    // A thread the name map does not know (started with _thread, say) is named by its
    // ident; without its native id its OS name cannot be looked up either.
    bool found_long = false, found_ident = false;
    for (const auto& t : p.threads) {
        if (t.name == "worker-with-a-name-of-forty-characters!") {
            found_long = true;
            EXPECT_TRUE(t.daemon.value_or(false));
            EXPECT_EQ(t.tid.value_or(0), 43);
        }
        if (t.name == "Thread 0x0000000000000003")
            found_ident = t.no_python_frame;
    }
    EXPECT_TRUE(found_long);
    EXPECT_TRUE(found_ident);
    // The shell is listed with its OS thread names.
    EXPECT_EQ(d.processes[1].pid, 50);
    EXPECT_EQ(d.processes[1].command, "sh -c sleep 9");
    std::string text = render_dump(d, "test");
    EXPECT_NE(text.find("thread \"worker-with-a-name-of-forty-characters!\"  tid 43"), std::string::npos) << text;
    EXPECT_NE(text.find("File \"/app/bank.py\", line 31, in transfer"), std::string::npos) << text;
}

TEST(MergedDump, PystacksGiveTheWaitForCycleAndTheSignatureFrame) {
    TempDir dir;
    dir.write("pystacks-7.json", R"({"pid":7,"threads":[
      {"name":"MainThread","ident":1,"native_id":7,"daemon":false,"main":true,
       "frames":[["/app/w.py",20,"<module>"],["/usr/lib/python3.11/threading.py",1119,"join"]],
       "waits_for":{"expr":"thread \"A\" to finish","thread":2,"type":"join","held_by":"A","held_by_ident":2}},
      {"name":"A","ident":2,"native_id":8,"daemon":false,"main":false,
       "frames":[["/app/w.py",12,"transfer"]],
       "waits_for":{"expr":"dst.lock","id":"0x10","type":"_thread.lock","held_by":"B","held_by_ident":3},
       "holds":[{"expr":"src.lock","id":"0x20","type":"_thread.lock"}]},
      {"name":"B","ident":3,"native_id":9,"daemon":false,"main":false,
       "frames":[["/app/w.py",12,"transfer"]],
       "waits_for":{"expr":"dst.lock","id":"0x20","type":"_thread.lock","held_by":"A","held_by_ident":2},
       "holds":[{"expr":"src.lock","id":"0x10","type":"_thread.lock"}]}],
      "cycle":[2,3]})");
    PyProcessReport rep;
    rep.pid = 7;
    rep.role = "root";
    MergedDump d = build_dump(run_with(dir.path, rep), Outcome::Hang, 7);
    EXPECT_TRUE(d.deadlock);
    EXPECT_EQ(d.top_frame, "w.py:transfer");
    ASSERT_EQ(d.processes.size(), 1u);
    EXPECT_EQ(d.processes[0].cycle, (std::vector<std::string>{"A", "B", "A"}));
    auto lines = dump_excerpt(d);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines[0], "deadlock: \"A\" waits for dst.lock (lock at 0x10) held by \"B\"; "
                        "\"B\" waits for dst.lock (lock at 0x20) held by \"A\"");
    std::string text = render_dump(d, "t");
    EXPECT_NE(text.find("holds src.lock (lock at 0x20)"), std::string::npos) << text;
    EXPECT_NE(text.find("waits for thread \"A\" to finish\n"), std::string::npos) << text;
}

TEST(MergedDump, AsyncioTasksWithTheirWaitsAndATaskDeadlock) {
    TempDir dir;
    dir.write("pystacks-7.json", R"J({"pid":7,"threads":[
      {"name":"MainThread","ident":1,"native_id":7,"daemon":false,"main":true,
       "frames":[["/app/w.py",30,"<module>"],["/usr/lib/python3.11/asyncio/base_events.py",1884,"_run_once"]]}],
      "cycle":[],
      "loops":[{"thread":1,"running":true,"tasks":[
        {"name":"Task-1","id":100,"frames":[["/app/w.py",25,"main"]],
         "waits_for":{"expr":"task \"a-then-b\" to finish","type":"task","held_by":"a-then-b"}},
        {"name":"a-then-b","id":101,"frames":[["/app/w.py",8,"transfer"],["/usr/lib/python3.11/asyncio/locks.py",114,"acquire"]],
         "waits_for":{"expr":"second","id":"0x20","type":"asyncio.locks.Lock","held_by":"b-then-a","held_by_task":102},
         "holds":[{"expr":"first","id":"0x10","type":"asyncio.locks.Lock"}]},
        {"name":"b-then-a","id":102,"frames":[["/app/w.py",8,"transfer"]],
         "waits_for":{"expr":"second","id":"0x10","type":"asyncio.locks.Lock","held_by":"a-then-b","held_by_task":101},
         "holds":[{"expr":"first","id":"0x20","type":"asyncio.locks.Lock"}]},
        {"name":"idle","id":103,"frames":[["/app/w.py",40,"idle"]],
         "waits_for":{"expr":"Queue.get() (queues.py:158)","type":"future"}}],
       "cycle":["a-then-b","b-then-a"],
       "unretrieved":[{"name":"boom","type":"ValueError","message":"x","frames":[["/app/w.py",3,"boom"]]}]}]})J");
    PyProcessReport rep;
    rep.pid = 7;
    rep.role = "root";
    MergedDump d = build_dump(run_with(dir.path, rep), Outcome::Hang, 7);
    EXPECT_TRUE(d.deadlock);
    EXPECT_EQ(d.top_frame, "w.py:transfer");
    ASSERT_EQ(d.processes.size(), 1u);
    ASSERT_EQ(d.processes[0].loops.size(), 1u);
    const DumpLoop& loop = d.processes[0].loops[0];
    EXPECT_EQ(loop.thread_name, "MainThread");
    EXPECT_EQ(loop.tasks.size(), 4u);
    std::string text = render_dump(d, "t");
    EXPECT_NE(text.find("DEADLOCK between asyncio tasks in process 7: task \"a-then-b\" waits for second "
                        "(asyncio.locks.Lock at 0x20) held by task \"b-then-a\""),
              std::string::npos) << text;
    EXPECT_NE(text.find("asyncio loop in thread \"MainThread\": 4 pending tasks"), std::string::npos) << text;
    EXPECT_NE(text.find("    task \"idle\"\n      waits for Queue.get() (queues.py:158)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("    task \"Task-1\"\n      waits for task \"a-then-b\" to finish\n"), std::string::npos) << text;
    EXPECT_NE(text.find("task \"boom\" finished with an exception nobody retrieved: ValueError: x"),
              std::string::npos) << text;
    auto lines = dump_excerpt(d);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines[0].rfind("deadlock: task \"a-then-b\" waits for second", 0), 0u) << lines[0];
}

TEST(MergedDump, AHungAsyncioProgramIsNamedByTheTaskItsMainTaskWaitsFor) {
    TempDir dir;
    dir.write("pystacks-7.json", R"J({"pid":7,"threads":[
      {"name":"MainThread","ident":1,"native_id":7,"daemon":false,"main":true,
       "frames":[["/app/w.py",60,"<module>"],["/usr/lib/python3.11/selectors.py",468,"select"]]}],
      "cycle":[],
      "loops":[{"thread":1,"tasks":[
        {"name":"Task-1","id":100,"frames":[["/app/w.py",57,"main"]],
         "waits_for":{"expr":"task \"uploader\" to finish","type":"task","held_by":"uploader"}},
        {"name":"uploader","id":101,"frames":[["/app/w.py",37,"uploader"],["/usr/lib/python3.11/asyncio/queues.py",158,"get"]],
         "waits_for":{"expr":"Queue.get() (queues.py:158)","type":"future"}}],"cycle":[]}]})J");
    PyProcessReport rep;
    rep.pid = 7;
    rep.role = "root";
    MergedDump d = build_dump(run_with(dir.path, rep), Outcome::Hang, 7);
    EXPECT_FALSE(d.deadlock);
    EXPECT_EQ(d.top_frame, "w.py:uploader");
    auto lines = dump_excerpt(d);
    EXPECT_NE(std::find(lines.begin(), lines.end(),
                        "task \"uploader\" at w.py:37 in uploader, waiting for Queue.get() (queues.py:158)"),
              lines.end());
}

// The merged dump of a failing run: every process of the run's tree and every thread, by
// name, with its stack (innermost last), which thread failed, and for hangs which lock each
// thread waits for and who holds it. Built from what the run left in its directory
// (docs/PROTOCOL.md, "Forensics files"): faulthandler-<pid>.txt, threads-<pid>.jsonl,
// pystacks-<pid>.json, processes.json and the failure events of py-<pid>.jsonl.
#pragma once
#include "analysis/outcome.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct RunDir; // analysis/run_dir.hpp

struct DumpFrame {
    std::string file;
    int line = 0;
    std::string function;
    bool library = false; // stdlib, site-packages, racehunt's own bootstrap
};

struct DumpThread {
    std::string name;     // Python name, else the OS name the program set, else "Thread 0x…"
    std::string os_name;  // /proc comm, when it differs from the process's own
    std::uint64_t ident = 0;
    std::optional<long> tid;
    std::optional<bool> daemon;
    bool main = false;
    bool failed = false;
    bool no_python_frame = false;
    std::vector<DumpFrame> frames; // innermost last
    std::string waits_for;         // "lock_b (_thread.lock at 0x…)" or "thread worker-1"
    std::string held_by;           // name of the holder, when known
    std::vector<std::string> holds;
};

// An asyncio event loop of a process: its pending tasks (a DumpThread each: the task's
// name, its coroutine stack, what it waits for and the asyncio locks it holds), a
// wait-for cycle among them, and finished tasks whose exception nobody retrieved.
struct DumpLoop {
    std::uint64_t thread = 0; // ident of the thread running it (0: not running)
    std::string thread_name;
    std::string when;         // "asyncio.run() ended", when not the moment of the dump
    std::vector<DumpThread> tasks;
    std::vector<std::string> cycle; // task names, first repeated last
    std::vector<DumpThread> unretrieved; // name, frames; waits_for holds "Type: message"
};

struct DumpProcess {
    int pid = 0, ppid = 0;
    std::string role;    // "root", "child", or "" for a process without the bootstrap
    std::string command; // command line
    std::string source;  // where the stacks come from
    std::vector<DumpThread> threads;
    std::vector<std::string> cycle; // thread names of a wait-for cycle, first repeated last
    std::string native;             // gdb's `thread apply all bt` (--native-stacks)
    std::vector<DumpLoop> loops;
};

struct MergedDump {
    std::vector<DumpProcess> processes;
    // The innermost workload frame that names the failure ("bank.py:transfer"), for the
    // signature; empty when none is known.
    std::string top_frame;
    bool deadlock = false;
    bool empty() const { return processes.empty(); }
};

// What faulthandler wrote: the fatal error line (empty for a dump on request) and the
// threads of the last dump, in file order.
struct FaultThread {
    std::uint64_t ident = 0;
    bool current = false;
    bool no_python_frame = false;
    std::vector<DumpFrame> frames; // innermost last
};
struct FaultDump {
    std::string fatal_error;
    std::vector<FaultThread> threads;
};
FaultDump parse_faulthandler(const std::string& text);

bool is_library_file(const std::string& file);

// From a run directory read with read_failure_files.
MergedDump build_dump(const RunDir& run, Outcome outcome, int root_pid);

// The dump as text (dump.txt), under a one-line title.
std::string render_dump(const MergedDump& d, const std::string& title);

// A short excerpt for the console: the deadlock, the failing thread in full (its innermost
// frames), the other threads' innermost frames.
std::vector<std::string> dump_excerpt(const MergedDump& d, std::size_t max_lines = 14);

} // namespace racehunt

// Hang forensics: what racehunt takes from a hung run's live processes before it kills them
// (docs/PROTOCOL.md, "Forensics files"). Everything lands in the run directory, where the
// merged dump (analysis/dump.hpp) reads it.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <vector>

namespace racehunt {

// The dump signal: a real-time signal nobody else is likely to use (docs/PROTOCOL.md).
int dump_signal();

// What /proc says about each member (parent, command line, OS thread names), as
// processes.json in the run directory.
void snapshot_processes(const std::filesystem::path& run_dir, const std::vector<int>& pids);

// Every Python process of the run whose bootstrap registered faulthandler on the dump
// signal (`registered`) is asked for all its threads' stacks; returns once the dump files
// stop growing and every one of them wrote dumped-<pid> (bounded waits).
void request_stack_dumps(const std::filesystem::path& run_dir, const std::vector<pid_t>& members,
                         const std::function<bool(pid_t)>& registered);

// --native-stacks: gdb attached to every member at once, `thread apply all bt`, into
// native-<pid>.txt.
void native_stacks(const std::filesystem::path& gdb, const std::filesystem::path& run_dir,
                   const std::vector<pid_t>& members);

// All of the above, in that order, for RunRequest::before_kill; `gdb` empty: no native stacks.
void capture_hang(const std::filesystem::path& run_dir, const std::vector<pid_t>& members,
                  const std::function<bool(pid_t)>& registered, const std::filesystem::path& gdb);

} // namespace racehunt

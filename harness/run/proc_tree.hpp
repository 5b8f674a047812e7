// Finding every process of a run on Linux, wherever it went: its process group, processes
// that left the group (setsid) but descend from it, and orphans re-parented to racehunt
// that carry the run's token in their environment.
#pragma once
#include <string>
#include <vector>

#include <sys/types.h>

namespace racehunt {

struct ProcInfo {
    pid_t pid = 0;
    pid_t ppid = 0;
    pid_t pgid = 0;
    char state = '?'; // 'Z' for zombies
};

// Parses /proc/PID/stat; false when the process is gone.
bool read_proc_info(pid_t pid, ProcInfo& out);

// True when /proc/PID/environ holds NAME=VALUE exactly.
bool environ_has(pid_t pid, const std::string& name_equals_value);

// The live (non-zombie unless `include_zombies`) processes of a run. `pgid` is the run's
// process group, `token_entry` its "RACEHUNT_RUN_TOKEN=..." string. Cheap when the run
// left nothing behind (no /proc scan is made then).
std::vector<pid_t> run_members(pid_t pgid, const std::string& token_entry,
                               bool include_zombies = false);

// Every live process whose /proc/PID/environ holds `token_entry` (a full /proc scan).
std::vector<pid_t> token_holders(const std::string& token_entry);

// The command line of a process, arguments separated by spaces ("" when gone).
std::string proc_cmdline(pid_t pid);

} // namespace racehunt

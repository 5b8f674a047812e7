// Resource limits of one run ([run] max_processes, memory_limit).
//
// Processes: a pids cgroup per run when the system offers one racehunt may write (a cgroup
// v1 "pids" hierarchy, or a v2 hierarchy with the pids controller), made under racehunt's
// own cgroup as racehunt-<pid>/<run>. It bounds the whole tree, whatever the tree does
// (setsid, double forks), and lists its members. Without one, RLIMIT_NPROC is the fallback:
// it counts every process of the user and does not bind root, so it is weaker.
// Memory: RLIMIT_AS on every process of the run (set in the root, inherited).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace racehunt {

class RunCgroup {
public:
    // A cgroup for run `name` allowing `max` processes; nullptr when the system has no
    // pids cgroup racehunt can make (then `why` says what was tried).
    static std::unique_ptr<RunCgroup> create(const std::string& name, std::uint64_t max, std::string* why = nullptr);
    ~RunCgroup(); // kills what is left in it and removes it
    RunCgroup(const RunCgroup&) = delete;
    RunCgroup& operator=(const RunCgroup&) = delete;

    // Its cgroup.procs: a process that writes "0" there joins the cgroup.
    const std::string& procs_path() const { return procs_; }
    // Opened for writing (close-on-exec), for a child to join between fork and exec.
    int procs_fd() const { return fd_; }
    std::vector<pid_t> members() const;
    // How many times a fork failed because the cgroup was full (pids.events "max").
    std::uint64_t limit_hits() const;

private:
    RunCgroup() = default;
    std::string dir_, procs_;
    int fd_ = -1;
};

struct RunLimits {
    std::optional<std::uint64_t> memory_limit;  // RLIMIT_AS, bytes
    std::optional<std::uint64_t> nproc;         // RLIMIT_NPROC (no cgroup)
    int cgroup_procs_fd = -1;                   // write "0" to join the run's cgroup
    std::string cgroup_procs;                   // its path (fork-server runs join by path)
};

} // namespace racehunt

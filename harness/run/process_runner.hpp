// The process boundary: one run of a workload as a process tree. Only the real
// implementation (posix_runner.cpp) includes Boost.Process; tests drive the pool,
// statistics and minimiser with a scripted fake instead.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace racehunt {

using Nanos = std::chrono::nanoseconds;

// Lets the pool stop every run in flight (Ctrl-C, --time-budget, --stop-after).
class Cancellation {
public:
    void cancel();
    bool cancelled() const { return flag_.load(std::memory_order_acquire); }
    // Un-cancels, between campaigns of one command (nothing may be running).
    void reset() { flag_.store(false, std::memory_order_release); }
    // Runs register a file descriptor that becomes readable on cancel().
    void add_waker(int fd);
    void remove_waker(int fd);

private:
    std::atomic<bool> flag_{false};
    std::mutex mutex_;
    std::vector<int> wakers_;
};

struct RunRequest {
    std::vector<std::string> argv; // argv[0] is an absolute executable path
    std::map<std::string, std::string> env; // the complete environment of the root process
    std::filesystem::path cwd;
    std::filesystem::path run_dir; // stdout.txt / stderr.txt are written here
    Nanos timeout = std::chrono::seconds(10);
    Nanos kill_grace = std::chrono::milliseconds(500);
    std::size_t output_head = 256 * 1024; // bytes of each stream kept from the start
    std::size_t output_tail = 256 * 1024; // bytes of each stream kept from the end
    std::string token; // RACEHUNT_RUN_TOKEN value: finds processes that left the group
    std::optional<std::uint64_t> max_processes; // processes of the run's tree alive at once
    std::optional<std::uint64_t> memory_limit;  // address space of each process, bytes
    // Called on timeout with the run's live processes, before anything is killed
    // (stack dumps are taken here).
    std::function<void(const std::vector<pid_t>&)> before_kill;
    // Called first on timeout with the run's live processes: returns how much longer the
    // run may go on (zero: it is killed now). The caller uses it to calm a run that its own
    // perturbation slowed and see whether it then finishes (campaign.cpp, calm_or_kill).
    std::function<Nanos(const std::vector<pid_t>&)> on_timeout;
};

struct StreamInfo {
    std::uint64_t bytes = 0;    // bytes the workload wrote
    std::uint64_t omitted = 0;  // bytes dropped between head and tail
};

struct RunResult {
    bool started = false;
    std::string spawn_error;
    bool timed_out = false;
    // on_timeout granted this much time past the timeout (the run was calmed); timed_out
    // says whether it then finished.
    Nanos overtime{0};
    bool cancelled = false;
    int exit_code = -1; // when the root exited normally
    int signal = 0;     // when the root was killed by a signal
    Nanos duration{0};  // spawn to root exit (or to the timeout)
    Nanos teardown{0};  // from there to the last process of the run reaped (dumps included)
    int leftover_processes = 0; // processes of the run still alive after the root exited
    int unkillable_processes = 0; // processes that survived SIGKILL until the deadline
    pid_t root_pid = 0;
    StreamInfo out, err;
    // The root is gone but its exit status is unknown (its fork server reaped it and died
    // before reporting it): the run's outcome is racehunt's error, not the workload's.
    bool status_lost = false;
    // How the run was started: "fresh" or "fork-server".
    std::string start = "fresh";
    // Facts about the start worth a warning in the run's record (a fork server that had
    // to be restarted, a run that fell back to a fresh start).
    std::vector<std::string> start_notes;
    // Forks refused because the run had max_processes processes (pids cgroup only).
    std::uint64_t process_limit_hits = 0;
};

// How a runner started the runs of a campaign, for the line that closes it. Only a runner
// that can start a run in more than one way has anything to report.
struct StartStats {
    std::uint64_t forked = 0;    // runs started as forks of a server
    std::uint64_t fresh = 0;     // runs that fell back to a fresh start
    std::uint64_t restarts = 0;  // servers started after one died
    std::string disabled_reason; // why runs no longer fork (empty while they do)
};

class ProcessRunner {
public:
    virtual ~ProcessRunner() = default;
    virtual RunResult run(const RunRequest& request, Cancellation& cancel) = 0;
    // nullopt: every run started the one way this runner has.
    virtual std::optional<StartStats> start_stats() const { return std::nullopt; }
};

// The real thing: fork/exec with Boost.Process, own process group, subreaper, caps.
std::unique_ptr<ProcessRunner> make_posix_runner();

} // namespace racehunt

// The one place that calls waitpid. racehunt is a child subreaper, so orphaned processes of
// every run end up as its children; a single thread reaps them all and hands the statuses
// of the processes racehunt started itself to the runs waiting for them.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <vector>
#include <memory>
#include <optional>
#include <sys/types.h>

namespace racehunt {

class ExitWatch {
public:
    ExitWatch();
    ~ExitWatch();
    ExitWatch(const ExitWatch&) = delete;
    ExitWatch& operator=(const ExitWatch&) = delete;
    int fd() const { return fd_; } // readable once the process was reaped (or lost)
    std::optional<int> status() const; // waitpid status, once reaped
    bool done() const { return done_.load(std::memory_order_acquire); }
    // The process is gone but its status is not known (a fork server reaped it and died
    // before saying what it was).
    bool lost() const { return done() && lost_; }
    // The first delivery wins; later ones are ignored.
    void deliver(int status);
    void deliver_lost();

private:
    std::atomic<bool> claimed_{false};
    int fd_;
    std::atomic<bool> done_{false};
    int status_ = 0;
    bool lost_ = false;
};

class Reaper {
public:
    static Reaper& instance();
    // Spawns under the reaper's lock and registers the new pid before the reaper can see
    // its exit. `spawn` returns the pid (or throws; nothing is registered then).
    pid_t spawn(const std::function<pid_t()>& spawn, std::shared_ptr<ExitWatch> watch);
    // The pids racehunt started itself and has not reaped yet.
    std::vector<pid_t> roots() const;
    // Watches a process racehunt did not start (a fork server's child): if it becomes our
    // child (its parent died) and exits, its status goes to `watch`. A status of that pid
    // reaped here since `since` (when the process was asked for) is delivered at once.
    void adopt(pid_t pid, std::shared_ptr<ExitWatch> watch, std::chrono::steady_clock::time_point since);
    // Stops watching an adopted pid (its parent reaped it, or the run gave it up).
    void release(pid_t pid, const std::shared_ptr<ExitWatch>& watch);

private:
    Reaper();
    void loop();
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace racehunt

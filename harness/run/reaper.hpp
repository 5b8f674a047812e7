// The one place that calls waitpid. racehunt is a child subreaper, so orphaned processes of
// every run end up as its children; a single thread reaps them all and hands the statuses
// of the processes racehunt started itself to the runs waiting for them.
#pragma once
#include <atomic>
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
    int fd() const { return fd_; } // readable once the process was reaped
    std::optional<int> status() const; // waitpid status, once reaped

private:
    friend class Reaper;
    void deliver(int status);
    int fd_;
    std::atomic<bool> done_{false};
    int status_ = 0;
};

class Reaper {
public:
    static Reaper& instance();
    // Spawns under the reaper's lock and registers the new pid before the reaper can see
    // its exit. `spawn` returns the pid (or throws; nothing is registered then).
    pid_t spawn(const std::function<pid_t()>& spawn, std::shared_ptr<ExitWatch> watch);
    // The pids racehunt started itself and has not reaped yet.
    std::vector<pid_t> roots() const;

private:
    Reaper();
    void loop();
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace racehunt

#include "run/reaper.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace racehunt {

ExitWatch::ExitWatch() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

ExitWatch::~ExitWatch() {
    if (fd_ >= 0)
        ::close(fd_);
}

std::optional<int> ExitWatch::status() const {
    if (!done_.load(std::memory_order_acquire) || lost_)
        return std::nullopt;
    return status_;
}

void ExitWatch::deliver(int status) {
    if (claimed_.exchange(true))
        return;
    status_ = status;
    done_.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

void ExitWatch::deliver_lost() {
    if (claimed_.exchange(true))
        return;
    lost_ = true;
    done_.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

struct Reaper::State {
    mutable std::mutex mutex;
    std::condition_variable has_children;
    std::map<pid_t, std::shared_ptr<ExitWatch>> watched;
    // Statuses of processes reaped while nobody watched them, newest last (bounded): an
    // adopted pid whose parent died may be reaped here before adopt() is called.
    struct Unclaimed {
        pid_t pid;
        int status;
        std::chrono::steady_clock::time_point when;
    };
    std::deque<Unclaimed> unclaimed;
    bool spawned_any = false;
};

Reaper& Reaper::instance() {
    static Reaper* reaper = new Reaper(); // never destroyed: its thread runs until exit
    return *reaper;
}

Reaper::Reaper() : state_(std::make_unique<State>()) {
    // Orphans of a run (double forks, fire-and-forget children) are re-parented to us
    // rather than to init, so they can be found, killed and reaped.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    std::thread([this] { loop(); }).detach();
}

pid_t Reaper::spawn(const std::function<pid_t()>& spawn, std::shared_ptr<ExitWatch> watch) {
    std::lock_guard lock(state_->mutex);
    pid_t pid = spawn();
    state_->watched[pid] = std::move(watch);
    state_->spawned_any = true;
    state_->has_children.notify_all();
    return pid;
}

std::vector<pid_t> Reaper::roots() const {
    std::lock_guard lock(state_->mutex);
    std::vector<pid_t> out;
    for (auto& [pid, w] : state_->watched)
        out.push_back(pid);
    return out;
}

void Reaper::adopt(pid_t pid, std::shared_ptr<ExitWatch> watch, std::chrono::steady_clock::time_point since) {
    std::lock_guard lock(state_->mutex);
    // Only a status reaped since the process was asked for can be its (pids are reused).
    for (auto it = state_->unclaimed.begin(); it != state_->unclaimed.end(); ++it)
        if (it->pid == pid && it->when >= since) {
            watch->deliver(it->status);
            state_->unclaimed.erase(it);
            return;
        }
    state_->watched[pid] = std::move(watch);
}

void Reaper::release(pid_t pid, const std::shared_ptr<ExitWatch>& watch) {
    std::lock_guard lock(state_->mutex);
    auto it = state_->watched.find(pid);
    if (it != state_->watched.end() && it->second == watch)
        state_->watched.erase(it);
}

void Reaper::loop() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, __WALL);
        if (pid > 0) {
            // Taking the lock orders this after a concurrent spawn's registration.
            std::lock_guard lock(state_->mutex);
            auto it = state_->watched.find(pid);
            if (it != state_->watched.end()) {
                it->second->deliver(status);
                state_->watched.erase(it);
            } else {
                state_->unclaimed.push_back({pid, status, std::chrono::steady_clock::now()});
                if (state_->unclaimed.size() > 256)
                    state_->unclaimed.pop_front();
            }
            continue;
        }
        if (errno == EINTR)
            continue;
        // ECHILD: nothing to wait for. Sleep until a spawn, but wake now and then, since
        // orphans can be re-parented to us without any spawn of ours.
        std::unique_lock lock(state_->mutex);
        state_->has_children.wait_for(lock, std::chrono::milliseconds(50));
    }
}

} // namespace racehunt

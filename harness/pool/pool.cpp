#include "pool/pool.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace racehunt {

using Clock = std::chrono::steady_clock;

const char* to_string(StopReason r) {
    switch (r) {
    case StopReason::Completed:
        return "completed";
    case StopReason::StopAfter:
        return "stop-after";
    case StopReason::TimeBudget:
        return "time-budget";
    case StopReason::Cancelled:
        return "interrupted";
    case StopReason::Stopped:
        return "stopped";
    }
    return "?";
}

PoolSummary run_pool(std::uint64_t n, const PoolOptions& options,
                     const std::function<TaskResult(std::uint64_t, Cancellation&)>& execute,
                     Cancellation& cancel, const std::function<void(const PoolProgress&)>& progress) {
    const auto start = Clock::now();
    std::atomic<std::uint64_t> next{0}, done{0}, failed{0}, cancelled{0}, running{0};
    std::atomic<int> reason{static_cast<int>(StopReason::Completed)};
    std::mutex mutex;
    std::condition_variable changed;
    bool all_finished = false;

    auto stop = [&](StopReason why) {
        int expected = static_cast<int>(StopReason::Completed);
        reason.compare_exchange_strong(expected, static_cast<int>(why));
        cancel.cancel();
        changed.notify_all();
    };

    auto worker = [&] {
        for (;;) {
            if (cancel.cancelled())
                return;
            std::uint64_t i = next.fetch_add(1);
            if (i >= n)
                return;
            running.fetch_add(1);
            TaskResult r = execute(i, cancel);
            running.fetch_sub(1);
            if (r.cancelled) {
                cancelled.fetch_add(1);
            } else {
                done.fetch_add(1);
                if (r.failed) {
                    std::uint64_t f = failed.fetch_add(1) + 1;
                    if (options.stop_after && f >= *options.stop_after)
                        stop(StopReason::StopAfter);
                }
                if (r.stop)
                    stop(StopReason::Stopped);
            }
            changed.notify_all();
        }
    };

    const int jobs = options.jobs < 1 ? 1 : options.jobs;
    std::vector<std::thread> threads;
    for (int i = 0; i < jobs && static_cast<std::uint64_t>(i) < n; ++i)
        threads.emplace_back(worker);

    // The supervising thread: progress, the time budget, and noticing the end.
    std::thread supervisor([&] {
        std::unique_lock lock(mutex);
        for (;;) {
            auto now = Clock::now();
            if (options.time_budget && now - start >= *options.time_budget && !cancel.cancelled())
                stop(StopReason::TimeBudget);
            if (progress) {
                PoolProgress p{n, done.load(), failed.load(), running.load(),
                               std::chrono::duration_cast<Nanos>(now - start), false};
                lock.unlock();
                progress(p);
                lock.lock();
            }
            if (all_finished)
                return;
            auto wait = options.progress_interval;
            if (options.time_budget) {
                auto left = *options.time_budget - (now - start);
                if (left > Nanos(0) && left < wait)
                    wait = std::chrono::duration_cast<Nanos>(left);
            }
            changed.wait_for(lock, wait);
        }
    });

    for (auto& t : threads)
        t.join();
    {
        std::lock_guard lock(mutex);
        all_finished = true;
    }
    changed.notify_all();
    supervisor.join();

    PoolSummary s;
    s.done = done.load();
    s.failed = failed.load();
    s.cancelled = cancelled.load();
    s.not_started = n - std::min<std::uint64_t>(n, s.done + s.cancelled);
    s.elapsed = std::chrono::duration_cast<Nanos>(Clock::now() - start);
    s.reason = static_cast<StopReason>(reason.load());
    if (s.reason == StopReason::Completed && cancel.cancelled() && (s.cancelled || s.not_started))
        s.reason = StopReason::Cancelled;
    if (progress)
        progress(PoolProgress{n, s.done, s.failed, 0, s.elapsed, true});
    return s;
}

} // namespace racehunt

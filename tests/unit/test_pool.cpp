// The pool driven by a scripted fake: no processes, just callbacks.
#include "pool/pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace racehunt;

TEST(Pool, RunsEveryTaskExactlyOnce) {
    std::mutex m;
    std::multiset<std::uint64_t> seen;
    Cancellation cancel;
    PoolOptions o;
    o.jobs = 4;
    auto s = run_pool(1000, o, [&](std::uint64_t i, Cancellation&) {
        std::lock_guard lock(m);
        seen.insert(i);
        return TaskResult{false, i % 10 == 0};
    }, cancel);
    EXPECT_EQ(seen.size(), 1000u);
    for (std::uint64_t i = 0; i < 1000; ++i)
        EXPECT_EQ(seen.count(i), 1u);
    EXPECT_EQ(s.done, 1000u);
    EXPECT_EQ(s.failed, 100u);
    EXPECT_EQ(s.reason, StopReason::Completed);
}

TEST(Pool, StopsAfterFirstFailureWithStopAfter1) {
    Cancellation cancel;
    PoolOptions o;
    o.jobs = 1;
    o.stop_after = 1;
    std::atomic<int> executed{0};
    auto s = run_pool(100, o, [&](std::uint64_t i, Cancellation&) {
        ++executed;
        return TaskResult{false, i == 5};
    }, cancel);
    EXPECT_EQ(executed.load(), 6);
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.reason, StopReason::StopAfter);
    EXPECT_EQ(s.not_started, 94u);
}

TEST(Pool, TimeBudgetCancelsRunsInFlight) {
    Cancellation cancel;
    PoolOptions o;
    o.jobs = 2;
    o.time_budget = std::chrono::milliseconds(100);
    auto s = run_pool(1000, o, [&](std::uint64_t, Cancellation& c) {
        // A run that lasts until cancelled.
        while (!c.cancelled())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return TaskResult{true, false};
    }, cancel);
    EXPECT_EQ(s.reason, StopReason::TimeBudget);
    EXPECT_EQ(s.done, 0u);
    EXPECT_EQ(s.cancelled, 2u);
}

TEST(Pool, ExternalCancelIsReportedAsInterrupted) {
    Cancellation cancel;
    PoolOptions o;
    o.jobs = 2;
    std::atomic<int> started{0};
    auto s = run_pool(100, o, [&](std::uint64_t, Cancellation& c) {
        if (++started == 10)
            c.cancel();
        return TaskResult{c.cancelled(), false};
    }, cancel);
    EXPECT_EQ(s.reason, StopReason::Cancelled);
    EXPECT_LT(s.done, 100u);
}

TEST(Pool, ProgressEndsWithFinishedAndFullCounts) {
    Cancellation cancel;
    PoolOptions o;
    o.jobs = 2;
    PoolProgress last;
    run_pool(50, o, [](std::uint64_t i, Cancellation&) { return TaskResult{false, i < 5}; }, cancel,
             [&](const PoolProgress& p) { last = p; });
    EXPECT_TRUE(last.finished);
    EXPECT_EQ(last.done, 50u);
    EXPECT_EQ(last.failed, 5u);
}

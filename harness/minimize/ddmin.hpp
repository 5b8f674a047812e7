// Delta debugging over a run's perturbations (Zeller and Hildebrandt's ddmin), judged by an
// oracle that may be noisy: the caller's test runs a candidate several times and says
// "reproduces" when enough of them fail (k of n), so a candidate is kept only on evidence.
// Pure logic over item indices; the tests drive it with scripted oracles.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <vector>

namespace racehunt {

using Subset = std::vector<std::size_t>; // sorted item indices

struct ShrinkResult {
    Subset items;          // the smallest reproducing set found
    bool complete = false; // true: 1-minimal (no single item can go); false: out of time
    std::size_t tests = 0; // oracle calls made (cached repeats not counted)
};

class Shrinker {
public:
    // `test` says whether a candidate reproduces; `out_of_time` is polled before each test.
    Shrinker(std::function<bool(const Subset&)> test, std::function<bool()> out_of_time);

    // Greedy removal of whole groups (each a subset of `current`), largest first: a group
    // goes when `current` without it still reproduces. Returns the reduced set.
    Subset drop_groups(Subset current, std::vector<Subset> groups);

    // ddmin from `current`, which must reproduce: splits into n chunks, tries each chunk
    // and each complement, and refines the granularity until no single item can be removed.
    ShrinkResult ddmin(Subset current);

    std::size_t tests() const { return tests_; }
    bool timed_out() const { return timed_out_; }

    // The cached verdict of a candidate (tests it when unknown); false once out of time.
    bool reproduces(const Subset& s);

private:
    std::function<bool(const Subset&)> test_;
    std::function<bool()> out_of_time_;
    std::map<Subset, bool> cache_;
    std::size_t tests_ = 0;
    bool timed_out_ = false;
};

// Set difference of two sorted subsets.
Subset without(const Subset& a, const Subset& b);

} // namespace racehunt

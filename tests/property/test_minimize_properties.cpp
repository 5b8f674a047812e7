// ddmin over scripted oracles: what it returns must reproduce, be 1-minimal, and be the
// exact cause when the cause is a fixed set.
#include "minimize/ddmin.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <set>

using namespace racehunt;

namespace {

Subset iota(std::size_t n) {
    Subset s(n);
    for (std::size_t i = 0; i < n; ++i)
        s[i] = i;
    return s;
}

bool contains_all(const Subset& s, const std::set<std::size_t>& need) {
    return std::all_of(need.begin(), need.end(),
                       [&](std::size_t x) { return std::binary_search(s.begin(), s.end(), x); });
}

} // namespace

TEST(MinimizeProperties, FindsExactlyTheRequiredSet) {
    EXPECT_TRUE(rc::check([] {
        const auto n = *rc::gen::inRange<std::size_t>(1, 300);
        const auto k = *rc::gen::inRange<std::size_t>(1, std::min<std::size_t>(n, 6) + 1);
        std::set<std::size_t> need;
        while (need.size() < k)
            need.insert(*rc::gen::inRange<std::size_t>(0, n));
        Shrinker s([&](const Subset& c) { return contains_all(c, need); }, {});
        ShrinkResult r = s.ddmin(iota(n));
        RC_ASSERT(r.complete);
        RC_ASSERT(std::set<std::size_t>(r.items.begin(), r.items.end()) == need);
    }));
}

TEST(MinimizeProperties, ResultReproducesAndIsOneMinimalForAnyOracle) {
    // Any monotone-or-not oracle that accepts the start: the result is accepted, and
    // removing any single item from it is rejected.
    EXPECT_TRUE(rc::check([] {
        const auto n = *rc::gen::inRange<std::size_t>(1, 40);
        const auto salt = *rc::gen::arbitrary<std::uint64_t>();
        auto oracle = [&](const Subset& c) {
            if (c.size() == n)
                return true;
            std::uint64_t h = salt;
            for (auto x : c)
                h = (h ^ x) * 0x9e3779b97f4a7c15ull;
            return (h >> 60) < 6; // accepts about 6 in 16 subsets, arbitrarily
        };
        Shrinker s(oracle, {});
        ShrinkResult r = s.ddmin(iota(n));
        RC_ASSERT(oracle(r.items));
        if (r.items.size() > 1) {
            for (std::size_t i = 0; i < r.items.size(); ++i) {
                Subset smaller = r.items;
                smaller.erase(smaller.begin() + static_cast<std::ptrdiff_t>(i));
                RC_ASSERT(!oracle(smaller));
            }
        }
    }));
}

TEST(MinimizeProperties, OneCulpritCostsLogarithmicallyManyTests) {
    EXPECT_TRUE(rc::check([] {
        const auto n = *rc::gen::inRange<std::size_t>(2, 5000);
        const auto culprit = *rc::gen::inRange<std::size_t>(0, n);
        Shrinker s([&](const Subset& c) { return std::binary_search(c.begin(), c.end(), culprit); }, {});
        ShrinkResult r = s.ddmin(iota(n));
        RC_ASSERT(r.items == Subset{culprit});
        std::size_t log2n = 0;
        while ((std::size_t(1) << log2n) < n)
            ++log2n;
        RC_ASSERT(r.tests <= 2 * log2n + 2);
    }));
}

TEST(Minimize, GroupsGoWholeWhenTheRestStillReproduces) {
    std::set<std::size_t> need{3, 7};
    Shrinker s([&](const Subset& c) { return contains_all(c, need); }, {});
    Subset r = s.drop_groups(iota(10), {{0, 1, 2}, {3, 4}, {5, 6}, {7, 8, 9}});
    EXPECT_EQ(r, (Subset{3, 4, 7, 8, 9}));
}

TEST(Minimize, OutOfTimeStopsWithTheSmallestSetFoundSoFar) {
    int budget = 3;
    Shrinker s([](const Subset& c) { return std::binary_search(c.begin(), c.end(), std::size_t(42)); },
               [&] { return budget-- <= 0; });
    ShrinkResult r = s.ddmin(iota(100));
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(r.tests, 3u);
    EXPECT_TRUE(std::binary_search(r.items.begin(), r.items.end(), std::size_t(42)));
    EXPECT_LT(r.items.size(), 100u);
}

TEST(Minimize, CandidatesAreTestedOnce) {
    int calls = 0;
    Shrinker s([&](const Subset&) { ++calls; return false; }, {});
    EXPECT_FALSE(s.reproduces({1, 2}));
    EXPECT_FALSE(s.reproduces({1, 2}));
    EXPECT_EQ(calls, 1);
}

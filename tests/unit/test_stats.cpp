#include "analysis/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace racehunt;

TEST(Wilson, MatchesPublishedValueForTenOfHundred) {
    // Wilson 95% interval of 10/100 is [0.0552, 0.1744] (Newcombe 1998, method 3).
    Interval iv = wilson_interval(10, 100);
    EXPECT_NEAR(iv.low, 0.0552, 5e-4);
    EXPECT_NEAR(iv.high, 0.1744, 5e-4);
}

TEST(Wilson, ZeroFailuresHasZeroLowerBoundAndPositiveUpper) {
    Interval iv = wilson_interval(0, 500);
    EXPECT_EQ(iv.low, 0);
    EXPECT_GT(iv.high, 0);
    EXPECT_LT(iv.high, 0.01);
}

TEST(Wilson, AllFailuresHasUpperBoundOne) {
    Interval iv = wilson_interval(20, 20);
    EXPECT_EQ(iv.high, 1);
    EXPECT_GT(iv.low, 0.8);
}

TEST(Wilson, NoRunsIsTheWholeRange) {
    Interval iv = wilson_interval(0, 0);
    EXPECT_EQ(iv.low, 0);
    EXPECT_EQ(iv.high, 1);
}

TEST(Wilson, IntervalContainsTheEstimate) {
    for (std::uint64_t n : {1u, 7u, 50u, 1000u})
        for (std::uint64_t k = 0; k <= n; k += (n / 7) + 1) {
            Interval iv = wilson_interval(k, n);
            double p = static_cast<double>(k) / static_cast<double>(n);
            EXPECT_LE(iv.low, p + 1e-12);
            EXPECT_GE(iv.high, p - 1e-12);
        }
}

TEST(ZeroFailures, ExactBoundIsWhereNoFailureHasFivePercentChance) {
    EXPECT_DOUBLE_EQ(zero_failures_upper_bound(1), 0.95);
    EXPECT_NEAR(zero_failures_upper_bound(6), 0.3930, 1e-4);
    for (std::uint64_t n : {1u, 10u, 500u, 100000u}) {
        const double p = zero_failures_upper_bound(n);
        EXPECT_NEAR(std::pow(1 - p, static_cast<double>(n)), 0.05, 1e-9);
        EXPECT_LT(p, rule_of_three(n) + 1e-12);
    }
    EXPECT_NEAR(zero_failures_upper_bound(500), 0.00597, 1e-5);
}

TEST(RuleOfThree, FiveHundredRunsBoundIsSixTenthsOfAPercent) {
    EXPECT_DOUBLE_EQ(rule_of_three(500), 0.006);
    EXPECT_DOUBLE_EQ(rule_of_three(1), 1.0);
}

TEST(Fisher, KnownTables) {
    // Fisher's tea-tasting table [[3, 1], [1, 3]]: two-sided p = 34/70.
    EXPECT_NEAR(fisher_exact_two_sided(3, 4, 1, 4), 34.0 / 70.0, 1e-12);
    // [[1, 9], [11, 3]] (a standard textbook example): p = 0.002759.
    EXPECT_NEAR(fisher_exact_two_sided(1, 10, 11, 14), 0.0027594, 1e-6);
    // Equal rates: nothing to see.
    EXPECT_NEAR(fisher_exact_two_sided(5, 100, 5, 100), 1.0, 1e-12);
    // Symmetric in the two groups.
    EXPECT_NEAR(fisher_exact_two_sided(7, 50, 1, 80), fisher_exact_two_sided(1, 80, 7, 50), 1e-12);
    // 84/2000 failing before, 0/2000 after: overwhelming.
    EXPECT_LT(fisher_exact_two_sided(84, 2000, 0, 2000), 1e-9);
    // 1/100 before, 0/100 after: could be luck.
    EXPECT_NEAR(fisher_exact_two_sided(1, 100, 0, 100), 1.0, 1e-12);
}

#include "analysis/stats.hpp"

#include <gtest/gtest.h>

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

TEST(RuleOfThree, FiveHundredRunsBoundIsSixTenthsOfAPercent) {
    EXPECT_DOUBLE_EQ(rule_of_three(500), 0.006);
    EXPECT_DOUBLE_EQ(rule_of_three(1), 1.0);
}

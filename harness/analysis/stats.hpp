// Failure-rate statistics users can quote: Wilson score intervals and the rule of three.
#pragma once
#include <cstdint>

namespace racehunt {

struct Interval {
    double low = 0, high = 0;
};

// The Wilson score interval of k successes in n trials at confidence z (1.96 = 95%).
// Unlike the normal approximation it stays inside [0, 1] and is honest for k = 0 or k = n.
Interval wilson_interval(std::uint64_t k, std::uint64_t n, double z = 1.96);

// With 0 failures in n runs, the failure rate is below 3/n at 95% confidence.
double rule_of_three(std::uint64_t n);

// With 0 failures in n runs, the exact one-sided 95% upper bound on the failure rate:
// the p at which 0 of n has probability 0.05, 1 - 0.05^(1/n) (about 3/n for large n).
double zero_failures_upper_bound(std::uint64_t n);

// Fisher's exact test on the 2x2 table (a failures of n1 runs before, b failures of n2
// after): the two-sided p-value, summing every table with the same margins that is no
// more probable than the observed one. Exact for any counts (log-space hypergeometric).
double fisher_exact_two_sided(std::uint64_t a, std::uint64_t n1, std::uint64_t b, std::uint64_t n2);

} // namespace racehunt

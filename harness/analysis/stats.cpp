#include "analysis/stats.hpp"

#include <algorithm>
#include <cmath>

namespace racehunt {

Interval wilson_interval(std::uint64_t k, std::uint64_t n, double z) {
    if (n == 0)
        return {0, 1};
    const double nn = static_cast<double>(n);
    const double p = static_cast<double>(k) / nn;
    const double z2 = z * z;
    const double denom = 1 + z2 / nn;
    const double centre = (p + z2 / (2 * nn)) / denom;
    const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    Interval iv{std::max(0.0, centre - half), std::min(1.0, centre + half)};
    // Exact ends: 0 failures cannot have a positive lower bound, and vice versa.
    if (k == 0)
        iv.low = 0;
    if (k == n)
        iv.high = 1;
    return iv;
}

double rule_of_three(std::uint64_t n) {
    return n == 0 ? 1.0 : std::min(1.0, 3.0 / static_cast<double>(n));
}

double zero_failures_upper_bound(std::uint64_t n) {
    return n == 0 ? 1.0 : 1.0 - std::pow(0.05, 1.0 / static_cast<double>(n));
}

double fisher_exact_two_sided(std::uint64_t a, std::uint64_t n1, std::uint64_t b, std::uint64_t n2) {
    // Margins: k failures in all, n runs in all; X = failures in the first group is
    // hypergeometric(n, k, n1).
    const double k = static_cast<double>(a + b), n = static_cast<double>(n1 + n2);
    const double r1 = static_cast<double>(n1);
    auto log_choose = [](double m, double j) { return std::lgamma(m + 1) - std::lgamma(j + 1) - std::lgamma(m - j + 1); };
    const double log_total = log_choose(n, k);
    auto log_p = [&](double x) { return log_choose(r1, x) + log_choose(n - r1, k - x) - log_total; };
    const double lo = std::max(0.0, k - (n - r1)), hi = std::min(k, r1);
    const double observed = log_p(static_cast<double>(a));
    // Tables as probable as the observed one, within rounding, count too.
    const double limit = observed + 1e-7;
    double p = 0;
    for (double x = lo; x <= hi; x += 1) {
        double lp = log_p(x);
        if (lp <= limit)
            p += std::exp(lp);
    }
    return std::min(1.0, p);
}

} // namespace racehunt

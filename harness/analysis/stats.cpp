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

} // namespace racehunt

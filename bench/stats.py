"""Statistics the benchmark sections share (standard library only)."""
from math import comb


def wilson(k, n, z=1.96):
    """Wilson score interval of k successes in n trials (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / d
    return (0.0 if k == 0 else max(0.0, c - h)), (1.0 if k == n else min(1.0, c + h))


def fisher_less(a, n1, c, n2):
    """One-sided Fisher exact test: the chance, with both samples from one rate, that the
    first shows a failures in n1 runs or fewer, given a + c failures in all. Small p: the
    first sample's rate is lower than the second's."""
    k, n = a + c, n1 + n2
    total = comb(n, n1)
    return sum(comb(k, x) * comb(n - k, n1 - x) for x in range(0, a + 1)) / total

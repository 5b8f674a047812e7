#!/usr/bin/env python3
"""Pools what tests/stress.sh recorded (RACEHUNT_STAT_LOG) into the rates the statistical
tests' comments state.

    tests/stat_rates.py STAT.jsonl                 per test and campaign: pooled counts
    tests/stat_rates.py --tail K N P               chance that a Binomial(N, P) is < K
    tests/stat_rates.py --upper-tail K N P         chance that a Binomial(N, P) is > K

For each campaign a test starts (the k-th racehunt command of the test), it prints the
failure counts of every round, the pooled rate with its 95% Clopper-Pearson interval, the
longest run (for the tests whose runs must all pass before a timeout) and minimize's
results. A test's chance of failing by chance is then a binomial tail at the bound of that
interval that is worse for the test (the lower bound for "at least K failures", the upper
for "at most K").
"""
import json
import math
import sys
from collections import OrderedDict


def binom_cdf(k, n, p):
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def beta_quantile(q, a, b):
    """The q-quantile of Beta(a, b), by bisection on the regularized incomplete beta, which
    for integer a, b is a binomial tail: I_x(a, b) = P(Binomial(a+b-1, x) >= a)."""
    n = a + b - 1
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 1 - binom_cdf(a - 1, n, mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(x, n, level=0.95):
    alpha = 1 - level
    lower = 0.0 if x == 0 else beta_quantile(alpha / 2, x, n - x + 1)
    upper = 1.0 if x == n else beta_quantile(1 - alpha / 2, x + 1, n - x)
    return lower, upper


def main(argv):
    if len(argv) == 5 and argv[1] in ("--tail", "--upper-tail"):
        k, n, p = int(argv[2]), int(argv[3]), float(argv[4])
        print("%.3g" % (binom_cdf(k - 1, n, p) if argv[1] == "--tail" else 1 - binom_cdf(k, n, p)))
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    campaigns = OrderedDict()
    calls = {}
    for line in open(argv[1]):
        e = json.loads(line)
        key = (e.get("round", 0), e["test"])
        index = calls.get(key, 0)
        calls[key] = index + 1
        campaigns.setdefault((e["test"], index), []).append(e)
    for (test, index), entries in campaigns.items():
        print("%s  #%d: %s" % (test, index + 1, " ".join(entries[0]["argv"][:12])))
        if "counts" in entries[0]:
            runs = failed = 0
            rounds = []
            for e in entries:
                n = sum(e["counts"].values())
                f = n - e["counts"].get("pass", 0)
                runs += n
                failed += f
                rounds.append("%d/%d" % (f, n))
            lo, hi = clopper_pearson(failed, runs) if runs else (0, 1)
            sigs = {}
            for e in entries:
                for s, c in e["signatures"].items():
                    sigs[s] = sigs.get(s, 0) + c
            print("    failed per round %s; pooled %d/%d = %.3f (95%% CI %.3f-%.3f); longest run %.1f s; "
                  "load %s" % (" ".join(rounds), failed, runs, failed / runs if runs else 0, lo, hi,
                               max(e["longest_s"] for e in entries),
                               " ".join("%.1f" % e["load"] for e in entries)))
            if sigs:
                print("    signatures: %s" % ", ".join("%s x%d" % kv for kv in sorted(sigs.items())))
        if any("minimal" in e for e in entries):
            print("    minimal (size, reproduced, of): %s" % " ".join(
                "%d,%d/%d" % tuple(e["minimal"]) for e in entries if "minimal" in e))
        print("    exit statuses: %s" % " ".join(str(e["exit"]) for e in entries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env bash
# The statistical tests under load, repeated: how a test that counts failures of real races
# fares when the machine is busy (race rates swing several-fold with load).
#
#   tests/stress.sh [ROUNDS] [PYTEST ARGS...]
#
# Beside the tests it keeps a bank-lost-update campaign running on both cores (the load a
# CI machine or a developer's build puts on them), repeats the default suite's statistical
# tests ROUNDS times (default 3), and prints for each test how many rounds it passed, with
# the load average it ran under, then each campaign's failure counts pooled over the rounds
# (tests/stat_rates.py), from which the tests' comments state their chance of failing.
# Needs a build (./scripts/setup.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
shift || true
build="${RACEHUNT_BUILD_DIR:-$PWD/build}"
[ -x "$build/racehunt" ] || { echo "stress: no $build/racehunt; run ./scripts/setup.sh first" >&2; exit 2; }
work="$(mktemp -d /tmp/racehunt-stress.XXXXXX)"
# The load runs from an installed copy (racehunt with its shim and bootstrap), so that a
# rebuild during the rounds does not stop it.
cmake --install "$build" --prefix "$work/prefix" >/dev/null || exit 2
"$work/prefix/bin/racehunt" --runs 1000000 -j 2 scenarios/bank-lost-update/scenario.toml --quiet \
  --out "$work/load" >"$work/load.txt" 2>&1 &
load=$!
trap 'kill -INT $load 2>/dev/null; wait $load 2>/dev/null' EXIT
sleep 5
if ! kill -0 $load 2>/dev/null || [ ! -s "$work/load/results.jsonl" ]; then
  echo "stress: the load campaign did not start:" >&2
  cat "$work/load.txt" >&2
  exit 2
fi

for i in $(seq 1 "$rounds"); do
  start=$(date +%s)
  RACEHUNT_STAT_LOG="$work/stat.jsonl" RACEHUNT_STAT_ROUND=$i RACEHUNT_BUILD_DIR="$build" /usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider -rA \
    -m "statistical and not slow" "$@" >"$work/round-$i.txt" 2>&1
  echo "stress: round $i: $(tail -1 "$work/round-$i.txt") (load average $(cut -d' ' -f1-3 /proc/loadavg))" \
       "in $(( $(date +%s) - start )) s"
done
echo "stress: the load campaign ran $(wc -l <"$work/load/results.jsonl") runs beside the rounds"
echo "stress: per test, rounds passed of $rounds (the rounds' output: $work/round-*.txt):"
cat "$work"/round-*.txt | sed -n 's/^\(PASSED\|FAILED\|ERROR\) \([^ ]*\).*/\1 \2/p' |
  awk '{ n[$2]++; if ($1 == "PASSED") p[$2]++ } END { for (t in n) printf "  %d/%d  %s\n", p[t], n[t], t }' | sort -k2
echo "stress: the campaigns' counts, pooled over the rounds:"
/usr/bin/python3 tests/stat_rates.py "$work/stat.jsonl"

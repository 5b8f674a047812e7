#!/usr/bin/env bash
# Fuzzes the scenario parser and the command-line parser with libFuzzer (clang, with ASan and
# UBSan), each for a fixed budget, starting from the corpus checked in under fuzz/corpus/.
#
#   scripts/fuzz.sh            # RACEHUNT_FUZZ_SECONDS per target (default 60)
#   scripts/fuzz.sh --merge    # then fold the new inputs into fuzz/corpus/ (minimised)
#
# Exits non-zero when a target crashed, hung (5 s per input) or broke an invariant of the
# target (an error without a location, a scenario that does not survive a round trip); the
# input that did it is left in the build directory (build-fuzz/, or $RACEHUNT_FUZZ_BUILD) as
# crash-*, timeout-* or oom-*. Found so far, and kept as regression inputs in the corpus: an
# error without a location for an empty operand, and Boost.Program_options looping forever
# on a value holding "%value%".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh clang libclang-rt-14-dev
budget=${RACEHUNT_FUZZ_SECONDS:-60}
root=$PWD
build=$(realpath -m "${RACEHUNT_FUZZ_BUILD:-build-fuzz}")
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRACEHUNT_FUZZ=ON \
  -DRACEHUNT_TESTS=OFF -DRACEHUNT_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_scenario fuzz_cli 2>&1 | grep -E "error|Error" || true
status=0
for t in scenario cli; do
  exe=$build/fuzz/fuzz_$t
  test -x "$exe" || { echo "fuzz: $exe was not built" >&2; exit 1; }
  scratch=$build/corpus-$t
  mkdir -p "$scratch"
  log=$build/fuzz-$t.log
  # Run inside the build directory: libFuzzer writes crash-*, timeout-* and oom-* there.
  if (cd "$build" && "$exe" -max_total_time="$budget" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="$root/fuzz/$t.dict" "$scratch" "$root/fuzz/corpus/$t" >"$log" 2>&1); then
    runs=$(grep -E "^stat::number_of_executed_units" "$log" | awk '{print $2}')
    echo "fuzz: $t: ${runs:-?} inputs in ${budget}s, 0 crashes, 0 hangs" >&2
  else
    echo "fuzz: $t FAILED (see $log):" >&2
    grep -E "ERROR|error without|round trip|Test unit written" "$log" | head -5 >&2
    status=1
  fi
  if [ "${1:-}" = "--merge" ]; then
    "$exe" -merge=1 "fuzz/corpus/$t" "$scratch" >/dev/null 2>&1
  fi
done
exit $status

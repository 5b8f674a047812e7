#!/usr/bin/env bash
# The whole test suite: set-up and build, unit and property tests (ctest), then the
# end-to-end tests with real Python processes (pytest). Slow statistical tests are left
# out unless RACEHUNT_SLOW=1.
set -uo pipefail
cd "$(dirname "$0")/.."
# Chromium (headless) checks the HTML interleaving report; only the tests need it.
./scripts/setup.sh chromium || exit 1

status=0
ctest --test-dir build --output-on-failure -j2 || status=1

# The Python injectors' modules, in process.
/usr/bin/python3 -m pytest tests/python -q -p no:cacheprovider || status=1

export RACEHUNT_BUILD_DIR="$PWD/build"
markers="not slow"
[ "${RACEHUNT_SLOW:-0}" = "1" ] && markers=""
/usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider ${markers:+-m "$markers"} "$@" || status=1
# Hostile workloads: a run of their own, so that each directory keeps its own conftest.
/usr/bin/python3 -m pytest tests/reliability -q -p no:cacheprovider -rN ${markers:+-m "$markers"} || status=1

# CI (CI=true) or RACEHUNT_EXTENDED=1 adds what takes too long for every developer run:
# the harness and its tests under ASan+UBSan, and the fuzzers for a fixed budget.
if [ "${CI:-}" = "true" ] || [ "${RACEHUNT_EXTENDED:-0}" = "1" ]; then
  echo "test: ASan+UBSan build (build-asan/)" >&2
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRACEHUNT_SANITIZE=ON -DRACEHUNT_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)" 2>&1 | grep -E "error|Error" || true
  ctest --test-dir build-asan --output-on-failure -j2 || status=1
  # The end-to-end tests that drive the runners, the reaper and the fork server hardest.
  RACEHUNT_BUILD_DIR="$PWD/build-asan" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    tests/e2e/test_core.py tests/e2e/test_fork_server.py -m "not slow and not statistical" || status=1
  RACEHUNT_BUILD_DIR="$PWD/build-asan" RACEHUNT_RSS_LIMIT_MIB=400 \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/reliability || status=1
  RACEHUNT_FUZZ_SECONDS="${RACEHUNT_FUZZ_SECONDS:-30}" ./scripts/fuzz.sh || status=1
fi
exit $status

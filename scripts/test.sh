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

export RACEHUNT_BUILD_DIR="$PWD/build"
markers="not slow"
[ "${RACEHUNT_SLOW:-0}" = "1" ] && markers=""
/usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider ${markers:+-m "$markers"} "$@" || status=1
# Hostile workloads (issue 9): separate, so that each directory keeps its own conftest.
/usr/bin/python3 -m pytest tests/reliability -q -p no:cacheprovider -rN ${markers:+-m "$markers"} || status=1
exit $status

#!/usr/bin/env bash
# Builds racehunt (with scripts/setup.sh) and runs every benchmark, writing bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# pytest-repeat and pytest-xdist are the baselines of the power section, nothing else.
./scripts/setup.sh python3-pytest-repeat python3-pytest-xdist
exec /usr/bin/python3 bench/bench.py "$@"

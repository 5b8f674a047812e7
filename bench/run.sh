#!/usr/bin/env bash
# Builds racehunt (with scripts/setup.sh) and runs every benchmark, writing bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec /usr/bin/python3 bench/bench.py "$@"

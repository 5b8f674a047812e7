#!/usr/bin/env bash
# Builds racehunt (with scripts/setup.sh) and runs every benchmark, writing bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# pytest-repeat and pytest-xdist are the baselines of the power section; the corpus
# entries name the Debian packages of the libraries whose races they are.
corpus_packages=$(/usr/bin/python3 -c '
import tomllib, pathlib
names = set()
for f in pathlib.Path("bench/corpus").glob("*/entry.toml"):
    names.update(tomllib.loads(f.read_text()).get("debian", []))
print(" ".join(sorted(names)))')
# shellcheck disable=SC2086
./scripts/setup.sh python3-pytest-repeat python3-pytest-xdist $corpus_packages
exec /usr/bin/python3 bench/bench.py "$@"

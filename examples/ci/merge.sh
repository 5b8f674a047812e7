#!/usr/bin/env bash
# The merge step of a nightly racehunt campaign: every shard's results into one summary,
# JUnit report and exit status.
#
#   examples/ci/merge.sh SHARDS_DIR OUT_DIR [racehunt merge options...]
#
# SHARDS_DIR holds one folder per shard (as CI artifacts are downloaded); every
# results.jsonl under it is merged. Exit status 1 when the campaign failed (see
# --fail-threshold), 0 when it passed; missing or duplicated runs are reported.
set -euo pipefail
racehunt=${RACEHUNT:-racehunt}
shards=$1 out=$2
shift 2
mapfile -t files < <(find "$shards" -name results.jsonl | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "merge.sh: no results.jsonl under $shards" >&2
  exit 2
fi
exec "$racehunt" merge "${files[@]}" --out "$out" --junit "$out/junit.xml" "$@"

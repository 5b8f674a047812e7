#!/usr/bin/env bash
# One shard of a nightly racehunt campaign. CI engines call this same script: a GitHub
# Actions matrix job (RACEHUNT_SHARD=K/N), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX
# with RACEHUNT_SHARD_COUNT), a Slurm array task (SLURM_ARRAY_TASK_*), or a test that
# simulates them. racehunt reads the shard from that environment.
#
#   examples/ci/shard.sh SCENARIOS OUT_DIR [racehunt options...]
#
# Every shard must get the same scenarios, --runs and --seed, so that together they make
# exactly one campaign. Exit status: racehunt's, except that failures (1) are left to the
# merge step, which decides for the whole campaign.
set -uo pipefail
racehunt=${RACEHUNT:-racehunt}
scenarios=$1 out=$2
shift 2
"$racehunt" run "$scenarios" --out "$out" --quiet "$@"
status=$?
[ "$status" -eq 1 ] && status=0
exit "$status"

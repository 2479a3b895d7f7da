#!/usr/bin/env bash
# The cached paths: `ssoflow token` and `ssoflow credentials --format
# process` on warm caches (a token and role credentials already cached),
# M runs each, median and p90 wall time, CPU time and peak RSS per process,
# beside botocore loading the same token (SSOTokenProvider) and the same role
# credentials (the AWS CLI's ~/.aws/cli/cache), each a fresh `python -c`.
# Writes the "cached.sh" section of docs/benchmarks.md (the rest is kept).
#
#   crates/bench/cached.sh           # M=30 runs per command
#   M=5 crates/bench/cached.sh       # a quicker, noisier trial
#
# Takes about 1 minute once ssoflow's release build is done (that build, in
# the main workspace's target/, can take a few minutes the first time).
# Creates target/interop-venv (botocore) as .ci/run does when it is missing.
# Signs in against its own emulator in a throw-away HOME under
# crates/bench/target/cached-scratch; never touches your ~/.aws.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v python3 >/dev/null || { echo "cached.sh: python3 is missing" >&2; exit 1; }
# Python drives the runs (each measured by wait4 in the launcher measure.c,
# which it compiles with cc) and stops the emulator on exit; the trap covers
# a kill of this shell.
python3 "$here/cached.py" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null' INT TERM
wait "$child"

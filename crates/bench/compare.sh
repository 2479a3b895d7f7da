#!/usr/bin/env bash
# ssoflow beside the official AWS SDK for Rust (aws-sdk-ssooidc + aws-config),
# in one run: clean release build time, dependency crates, stripped binary
# size, and, over N runs of a device flow plus one refresh against one
# emulator, median CPU time, peak RSS and HTTP requests; every figure with
# the ratio ssoflow / aws-sdk. Writes the "compare.sh" section of
# docs/benchmarks.md (the rest of the file is kept).
#
#   crates/bench/compare.sh          # N=20 runs per program
#   N=5 crates/bench/compare.sh      # a quicker, noisier trial
#   REUSE_BUILDS=1 crates/bench/compare.sh   # runs only, with the last binaries;
#                                    # prints, writes nothing to docs/
#
# Takes 5-6 minutes on a 2-core machine (the SDK's clean build is 2.5-4 of
# them). Run it on a quiet machine: other builds inflate every figure.
# Needs cargo, python3 (>= 3.9), cc, strip and git; downloads crates only in its
# `cargo fetch` step. Everything it builds or writes stays under
# crates/bench/target/, the main workspace's target/ (the emulator), and
# docs/benchmarks.md. Stops the emulator it started however it ends.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v python3 >/dev/null || { echo "compare.sh: python3 is missing" >&2; exit 1; }
# Python drives the runs (each measured by wait4 in the launcher measure.c,
# which it compiles with cc) and stops the emulator on exit; the trap covers
# a kill of this shell.
python3 "$here/compare.py" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null' INT TERM
wait "$child"

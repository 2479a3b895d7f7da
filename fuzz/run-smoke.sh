#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time, one at a time,
# single job. Usage:
#
#   fuzz/run-smoke.sh [SECONDS] [TARGET...]     (or FUZZ_SECONDS=N)
#
# SECONDS defaults to 30; TARGETs default to all of fuzz/fuzz_targets/.
# Each run starts from a scratch copy of the committed seeds
# (fuzz/corpus/<target>/), so the seeds are never added to, after first
# replaying the committed crash inputs (fuzz/regressions/<target>/).
# fuzz/dicts/<target>.dict, if present, is passed as a libFuzzer dictionary.
# It prints each target's executions and coverage. A crash, timeout or OOM
# fails the script; the input is copied to fuzz/regressions/<target>/, where
# it must be committed (`cd fuzz && cargo test` replays
# it) together with the fix.
#
# Environment: FUZZ_SECONDS (run time per target), FUZZ_UNIT_TIMEOUT (seconds
# one input may take before it counts as a hang, default 10), FUZZ_RSS_MB
# (default 2048), FUZZ_SANITIZER (default none: every crate here forbids
# unsafe code, and without ASan the fuzzers run about twice as fast; set
# `address` to use it), FUZZ_SCRATCH (scratch directory, default
# fuzz/target/smoke), CARGO_BUILD_JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
unit_timeout=${FUZZ_UNIT_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
sanitizer=${FUZZ_SANITIZER:-none}
scratch=${FUZZ_SCRATCH:-fuzz/target/smoke}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "the nightly toolchain is missing: cargo-fuzz needs it (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz --version

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
# One build for all targets; `cargo fuzz run` below reuses it.
cargo +nightly fuzz build --sanitizer "$sanitizer"

status=0
summary=()
for target in "${targets[@]}"; do
  corpus="$scratch/corpus/$target"
  artifacts="$scratch/artifacts/$target"
  log="$scratch/$target.log"
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  args=(-rss_limit_mb="$rss_mb" -timeout="$unit_timeout" -artifact_prefix="$artifacts/")

  shopt -s nullglob
  regressions=(fuzz/regressions/"$target"/*)
  shopt -u nullglob
  if [ ${#regressions[@]} -gt 0 ]; then
    echo "== $target: replaying ${#regressions[@]} committed crash input(s)"
    if ! cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "${regressions[@]}" -- "${args[@]}" \
      >"$scratch/$target.regressions.log" 2>&1; then
      tail -n 40 "$scratch/$target.regressions.log" >&2
      echo "!! $target: a committed crash input fails again" >&2
      status=1
      summary+=("$target: REGRESSION (see $scratch/$target.regressions.log)")
      continue
    fi
  fi

  if [ -f "fuzz/dicts/$target.dict" ]; then
    args+=(-dict="fuzz/dicts/$target.dict")
  fi
  echo "== $target: fuzzing for $seconds s"
  # The scratch corpus comes first: libFuzzer writes new inputs only there.
  if cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "fuzz/corpus/$target" -- \
    "${args[@]}" -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi

  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$done_line" | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$done_line" | grep -o '[0-9]*' || true)
  line="$target: $result, ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}"

  if [ "$result" = FAILED ]; then
    tail -n 60 "$log" >&2
    shopt -s nullglob
    found=("$artifacts"/*)
    shopt -u nullglob
    if [ ${#found[@]} -gt 0 ]; then
      mkdir -p "fuzz/regressions/$target"
      for input in "${found[@]}"; do
        cp "$input" "fuzz/regressions/$target/"
        echo "!! $target: input saved as fuzz/regressions/$target/$(basename "$input")" >&2
      done
      echo "!! commit it with the fix: 'cd fuzz && cargo test' replays it" >&2
      line="$line; input in fuzz/regressions/$target/"
    else
      line="$line; no input saved (see $log)"
    fi
  fi
  echo "$line"
  summary+=("$line")
done

echo "== fuzz smoke summary ($seconds s per target)"
printf '%s\n' "${summary[@]}"
exit $status

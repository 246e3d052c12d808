#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in the sanitizer tree ./build-asan, see
# scripts/sanitizer-tree.sh) and runs each one for a bounded time from its seed corpus
# (fuzz/corpus/<target>). Any crash, leak, sanitizer report or timeout fails the run; the
# reproducer is left in <build dir>/artifacts/.
#   FUZZ_SECONDS=15 (per target)   FUZZ_TARGETS="fuzz_k8s fuzz_keda" (default: all)
#   FUZZ_JOBS=N (parallel fuzzing processes per target)   FUZZ_NO_BUILD=1 (use what is built)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/sanitizer-tree.sh
source scripts/sanitizer-tree.sh
SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
ALL_TARGETS="fuzz_workload fuzz_catalog fuzz_service_config fuzz_fleet fuzz_capacity fuzz_proto
  fuzz_k8s fuzz_keda fuzz_extender"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  configure_sanitizer_tree
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS
fi

# Longest input libFuzzer makes (and longest seed it reads whole): the largest seed of each
# target rounded up. Parsers are linear, so longer inputs only slow the search.
max_len() {
  case "$1" in
    fuzz_k8s | fuzz_extender) echo 32768 ;;
    *) echo 4096 ;;
  esac
}

artifacts="$BUILD_DIR/artifacts"
mkdir -p "$artifacts"
total=0
for t in $TARGETS; do
  # New inputs go to a scratch corpus in the build dir; the checked-in seeds stay read-only.
  work="$BUILD_DIR/corpus/$t"
  mkdir -p "$work"
  log="$BUILD_DIR/$t.log"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  # shellcheck disable=SC2086
  if ! "$BUILD_DIR/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 \
      -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
      ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS} \
      "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t FAILED (log $log, reproducer in $artifacts/)" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
  echo "fuzz: $t ok, ${execs:-?} executions, coverage ${cov:-?} edges, 0 crashes"
  total=$((total + 1))
done
echo "fuzz: $total passed, 0 failed"

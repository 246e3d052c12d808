#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, ./build-fuzz) and runs each one for a
# bounded time from its seed corpus (fuzz/corpus/<target>). Any crash, leak, sanitizer report
# or timeout fails the run; the reproducer is left in build-fuzz/artifacts/.
#   FUZZ_SECONDS=20 (per target)   FUZZ_TARGETS="fuzz_k8s fuzz_keda" (default: all)
#   FUZZ_JOBS=1 (parallel fuzzing processes per target)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
ALL_TARGETS="fuzz_workload fuzz_catalog fuzz_capacity fuzz_k8s fuzz_keda fuzz_extender"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" -DGPUFIT_FUZZ=ON \
  -DGPUFIT_BUILD_TESTS=OFF -DGPUFIT_BUILD_BENCH=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS

export ASAN_OPTIONS="abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
artifacts="$BUILD_DIR/artifacts"
mkdir -p "$artifacts"
for t in $TARGETS; do
  # New inputs go to a scratch corpus in the build dir; the checked-in seeds stay read-only.
  work="$BUILD_DIR/corpus/$t"
  mkdir -p "$work"
  log="$BUILD_DIR/$t.log"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  if ! "$BUILD_DIR/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
      ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS} \
      "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t FAILED (log $log, reproducer in $artifacts/)" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  echo "fuzz: $t ok, ${execs:-?} executions"
done

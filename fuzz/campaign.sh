#!/usr/bin/env bash
# A long fuzzing campaign (fuzz/CAMPAIGN.md): each target until CAMPAIGN_RUNS executions
# (default 10 million, the hardening goal) or CAMPAIGN_SECONDS (default 3600), whichever
# comes first, at nice 10, from the seeds plus the corpus earlier campaigns left in
# <build dir>/corpus/<target>. CAMPAIGN_PARALLEL (default 2) processes take targets from one
# queue, so a fast target does not wait for a slow one. Prints one line per target:
# executions, seconds, coverage (edges), features, corpus size, crashes.
# Uses the targets fuzz/run.sh built (run it once first). Logs: <build dir>/campaign/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD_DIR=${BUILD_DIR:-build-asan}
SECONDS_PER_TARGET=${CAMPAIGN_SECONDS:-3600}
RUNS_PER_TARGET=${CAMPAIGN_RUNS:-10000000}
# Each target runs as fresh processes of at most this many executions, each resuming from
# the corpus the last one saved. One ASan fuzzer process slows down as it ages (fuzz_fleet
# fell from 3,000 to 1,100 inputs/s over 5 million; fuzz_service_config from 4,800 to
# 2,300 over 1.9 million), and a fresh one starts at the full rate again.
CHUNK_RUNS=${CAMPAIGN_CHUNK_RUNS:-1500000}
# ASan's allocator caches freed memory by size class, so a fuzzer's RSS creeps up over
# millions of inputs without any leak (fuzz_fleet: 1.2 GB after 0.95M inputs, 74 MB with
# ASAN_OPTIONS=quarantine_size_mb=0). fuzz/run.sh's 4 GB would stop a long run as an "OOM".
RSS_LIMIT_MB=${CAMPAIGN_RSS_MB:-12288}
PARALLEL=${CAMPAIGN_PARALLEL:-2}
TARGETS=${FUZZ_TARGETS:-$(sed -n 's/^gpufit_fuzzer(\([a-z_]*\) .*/\1/p' fuzz/CMakeLists.txt)}
out="$BUILD_DIR/campaign"
mkdir -p "$out/artifacts"
# shellcheck source=scripts/sanitizer-tree.sh
source scripts/sanitizer-tree.sh
# Allocation/free stacks 4 frames deep (default 30): over millions of inputs ASan's stack
# depot fills with unique yaml-cpp recursion stacks and StackDepot::Put came to a third of
# fuzz_fleet's time. Detection is unchanged; running a reproducer with the default options
# gives the full stacks.
export ASAN_OPTIONS="$ASAN_OPTIONS:malloc_context_size=4"

# The last value of libFuzzer's `key: N` in a log ("" if none).
last_stat() { grep -o "$1: *[0-9]*" "$2" | tail -n 1 | grep -o '[0-9]*$'; }

run_one() {
  local t=$1 max_len=4096
  case "$t" in fuzz_k8s | fuzz_extender) max_len=32768 ;; esac
  mkdir -p "$BUILD_DIR/corpus/$t"
  local start now rc=0 execs=0 chunk=0 runs n log
  start=$(date +%s)
  : >"$out/$t.log"
  while ((execs < RUNS_PER_TARGET)); do
    now=$(date +%s)
    ((now - start < SECONDS_PER_TARGET)) || break
    chunk=$((chunk + 1))
    runs=$((RUNS_PER_TARGET - execs))
    ((runs > CHUNK_RUNS)) && runs=$CHUNK_RUNS
    log="$out/$t.$chunk.log"
    nice -n 10 "$BUILD_DIR/fuzz/$t" -runs="$runs" \
      -max_total_time="$((SECONDS_PER_TARGET - (now - start)))" -timeout=10 \
      -rss_limit_mb="$RSS_LIMIT_MB" -max_len="$max_len" -print_final_stats=1 \
      -artifact_prefix="$out/artifacts/$t-" "$BUILD_DIR/corpus/$t" "fuzz/corpus/$t" \
      >"$log" 2>&1
    rc=$?
    cat "$log" >>"$out/$t.log"
    n=$(last_stat stat::number_of_executed_units "$log")
    execs=$((execs + ${n:-0}))
    ((rc == 0 && ${n:-0} > 0)) || break  # a crash, or nothing ran
  done
  local cov ft corp crashes
  cov=$(last_stat cov "$out/$t.log")
  ft=$(last_stat ft "$out/$t.log")
  corp=$(last_stat corp "$out/$t.log")
  crashes=$(find "$out/artifacts" -name "$t-*" | wc -l)
  printf '%s rc=%s execs=%s seconds=%s processes=%s cov=%s ft=%s corpus=%s artifacts=%s\n' \
    "$t" "$rc" "$execs" "$(($(date +%s) - start))" "$chunk" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$crashes" | tee -a "$out/summary.txt"
}

export BUILD_DIR SECONDS_PER_TARGET RUNS_PER_TARGET CHUNK_RUNS RSS_LIMIT_MB out
export -f run_one last_stat
# $TARGETS splits into words on purpose; $1 expands in the child bash.
# shellcheck disable=SC2086,SC2016
printf '%s\n' $TARGETS | xargs -P "$PARALLEL" -I{} bash -c 'run_one "$1"' _ {}

#!/usr/bin/env bash
# A long fuzzing campaign (fuzz/CAMPAIGN.md): each target for CAMPAIGN_SECONDS (default 3600)
# at nice 10, CAMPAIGN_PARALLEL (default 2) targets at a time, one process each, from the
# seeds plus the corpus earlier campaigns left in <build dir>/corpus/<target>. Prints one
# line per target: executions, seconds, coverage (edges), features, corpus size, crashes.
# Uses the targets fuzz/run.sh built (run it once first). Logs: <build dir>/campaign/.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
SECONDS_PER_TARGET=${CAMPAIGN_SECONDS:-3600}
PARALLEL=${CAMPAIGN_PARALLEL:-2}
TARGETS=${FUZZ_TARGETS:-$(sed -n 's/^gpufit_fuzzer(\([a-z_]*\) .*/\1/p' fuzz/CMakeLists.txt)}
out="$BUILD_DIR/campaign"
mkdir -p "$out/artifacts"
# shellcheck source=scripts/sanitizer-tree.sh
source scripts/sanitizer-tree.sh

run_one() {
  local t=$1 max_len=4096
  case "$t" in fuzz_k8s | fuzz_extender) max_len=32768 ;; esac
  mkdir -p "$BUILD_DIR/corpus/$t"
  local start end rc
  start=$(date +%s)
  nice -n 10 "$BUILD_DIR/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
    -rss_limit_mb=4096 -max_len="$max_len" -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" "$BUILD_DIR/corpus/$t" "fuzz/corpus/$t" \
    >"$out/$t.log" 2>&1
  rc=$?
  end=$(date +%s)
  local execs cov ft corp crashes
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -n 1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$out/$t.log" | tail -n 1 | grep -o '[0-9]*')
  corp=$(grep -o 'corp: [0-9]*' "$out/$t.log" | tail -n 1 | grep -o '[0-9]*')
  crashes=$(find "$out/artifacts" -name "$t-*" | wc -l)
  printf '%s rc=%s execs=%s seconds=%s cov=%s ft=%s corpus=%s artifacts=%s\n' \
    "$t" "$rc" "${execs:-?}" "$((end - start))" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" |
    tee -a "$out/summary.txt"
}

# shellcheck disable=SC2086
set -- $TARGETS
while (($#)); do
  for _ in $(seq "$PARALLEL"); do
    (($#)) || break
    run_one "$1" &
    shift
  done
  wait
done

#!/usr/bin/env bash
# Soak: gpufitd under saturating gRPC and scheduler-extender load for a while, then what it
# did: calls, failures (goal 0), p50/p99 latency per protocol, and its resident memory after
# the warm-up and at the end (goal: growth < 5% over 10 minutes).
#
# It starts a fake Kubernetes API server (bench/fake_kube_api.py, NAMES nodes) and gpufitd
# with examples/daemon/gpufitd.yaml (two workloads), the extender on, and the node cache fed
# by the fake API (NodeNames mode). Then, concurrently for SECONDS:
#   gRPC      bench/grpc_load --duration-seconds: PlacementService/Place, CONCURRENCY in
#             flight, every answer compared with the first (deterministic decisions);
#   extender  wrk on POST /filter and wrk on POST /prioritize, CONCURRENCY/2 connections
#             each, NodeNames of all NAMES nodes, pod annotation gpufit.io/workload; an answer
#             is a failure unless it is HTTP 200 with the expected shape ("Error":"" for
#             filter, a HostPriority array for prioritize).
# RSS is /proc/PID/status VmRSS, sampled under load after the warm-up and one second before
# the end. At the end gpufitd must still answer /healthz and /readyz, then exit 0 on SIGTERM.
#
# Usage: bench/soak.sh [BUILD_DIR] [SECONDS] [CONCURRENCY]    (defaults: build 600 16)
# Env:   NAMES (default 500), WARMUP_SECONDS (default SECONDS/5, at most 30)
# Exit:  0 = no failed call and gpufitd alive and clean on SIGTERM; 1 otherwise; 77 = wrk or
#        python3 missing (CTest: skipped). Times are reported, never checked.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
seconds="${2:-600}"
concurrency="${3:-16}"
names="${NAMES:-500}"
warmup="${WARMUP_SECONDS:-$((seconds / 5 < 30 ? seconds / 5 : 30))}"
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 5 ]] || { echo "soak: SECONDS must be >= 5" >&2; exit 2; }
[[ "$concurrency" =~ ^[0-9]+$ && "$concurrency" -ge 2 ]] || { echo "soak: CONCURRENCY must be >= 2" >&2; exit 2; }
(( warmup >= 1 && warmup < seconds - 1 )) || warmup=1
for tool in wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: soak needs $tool (scripts/install-deps.sh)"; exit 77; }
done
for bin in "$build/gpufitd" "$build/bench/grpc_load"; do
  [[ -x "$bin" ]] || { echo "soak: $bin not built" >&2; exit 1; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gpufit-soak.XXXXXX")"
pid="" api_pid="" load_pids=()
cleanup() {
  for p in "${load_pids[@]}" "$api_pid"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "soak: FAIL: $*" >&2; [[ -f "$tmp/gpufitd.log" ]] && tail -20 "$tmp/gpufitd.log" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0; }
metric() { curl -sf "http://$http/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

api_port=$(free_port)
python3 "$here/fake_kube_api.py" "$api_port" "$names" >"$tmp/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$api_port/api/v1/nodes?limit=1" >/dev/null && break
  sleep 0.1
done
"$build/gpufitd" --grpc-address 127.0.0.1:0 --http-address 127.0.0.1:0 --log-level info \
  --config "$root/examples/daemon/gpufitd.yaml" --kube-api-url "http://127.0.0.1:$api_port" \
  --shutdown-grace-seconds 10 2>"$tmp/gpufitd.log" &
pid=$!

# The "serving" log line carries the ports gpufitd bound (bounded wait).
serving=""
for _ in $(seq 300); do
  serving=$(grep -m1 '"msg":"serving"' "$tmp/gpufitd.log" || true)
  [[ -n "$serving" ]] && break
  kill -0 "$pid" 2>/dev/null || fail "gpufitd exited at startup"
  sleep 0.1
done
[[ -n "$serving" ]] || fail "gpufitd did not report serving"
grpc=$(sed -E 's/.*"grpc_address":"([^"]+)".*/\1/' <<<"$serving")
http=$(sed -E 's/.*"http_address":"([^"]+)".*/\1/' <<<"$serving")
cached=0
for _ in $(seq 300); do
  cached=$(metric gpufit_node_cache_nodes); cached=${cached%.*}
  [[ "${cached:-0}" -ge "$names" ]] && break
  sleep 0.1
done
[[ "${cached:-0}" -ge "$names" ]] || fail "node cache not filled (${cached:-0} of $names nodes)"

python3 - "$names" >"$tmp/body.json" <<'PY'
import json, sys
n = int(sys.argv[1])
pod = {"metadata": {"name": "soak", "namespace": "serving",
                    "annotations": {"gpufit.io/workload": "chat-llama3-8b"}}}
print(json.dumps({"Pod": pod, "Nodes": None, "NodeNames": [f"node-{i}" for i in range(n)]}))
PY
# One wrk script per verb: POST the body, check every answer, print a RESULT line.
write_lua() {  # verb, expected substring of a good answer
  cat >"$tmp/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json"); wrk.body = f:read("*a"); f:close()
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '$2', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT $1 calls=%d failures=%d calls_per_s=%.0f p50_us=%d p99_us=%d\n",
    summary.requests, b + e.connect + e.read + e.write + e.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99)))
end
LUA
}
write_lua filter '"Error":""}'
write_lua prioritize '[{"Host":"node-'
http_conns=$((concurrency / 2))

echo "soak: gpufitd pid $pid (grpc $grpc, http $http), $cached nodes cached; ${seconds}s," \
     "$concurrency gRPC calls + 2x$http_conns extender connections in flight; warm-up ${warmup}s"
start_s=$SECONDS
"$build/bench/grpc_load" --target "$grpc" --duration-seconds "$seconds" --warmup 200 \
  --concurrency "$concurrency" >"$tmp/grpc.txt" 2>&1 &
load_pids+=($!)
for verb in filter prioritize; do
  wrk -t1 -c"$http_conns" -d"${seconds}s" --timeout 30s -s "$tmp/$verb.lua" \
    "http://$http/$verb" >"$tmp/$verb.txt" 2>&1 &
  load_pids+=($!)
done

# RSS under load: after the warm-up, then every tenth of the run, the last one second before
# the end. A dead gpufitd ends the soak at once.
rss_start=0 rss_end=0 timeline=""
next_sample=$warmup step=$(( (seconds - warmup) / 10 > 0 ? (seconds - warmup) / 10 : 1 ))
while (( SECONDS - start_s < seconds - 1 )); do
  kill -0 "$pid" 2>/dev/null || fail "gpufitd died under load"
  if (( SECONDS - start_s >= next_sample )); then
    rss=$(rss_kib)
    (( rss_start == 0 )) && rss_start=$rss
    timeline+=" $((SECONDS - start_s))s:$((rss / 1024))M"
    next_sample=$((next_sample + step))
  fi
  sleep 0.2
done
rss_end=$(rss_kib)
timeline+=" $((SECONDS - start_s))s:$((rss_end / 1024))M"
load_status=0
for p in "${load_pids[@]}"; do wait "$p" || load_status=1; done
load_pids=()

alive=yes
kill -0 "$pid" 2>/dev/null || alive=no
healthz=$(curl -s -o /dev/null -w '%{http_code}' "http://$http/healthz" || true)
readyz=$(curl -s -o /dev/null -w '%{http_code}' "http://$http/readyz" || true)
rss_metric=$(metric process_resident_memory_bytes || true)

echo
sed -n '/^method/,$p' "$tmp/grpc.txt" | grep -v '^RESULT'
echo
printf '%-11s %10s %9s %9s %9s %9s\n' protocol calls failures calls/s "p50 ms" "p99 ms"
get() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$line"; }  # a field of the RESULT $line
total_failures=0
for what in grpc filter prioritize; do
  line=$(grep -m1 "^RESULT $what " "$tmp/$what.txt" || true)
  if [[ -z "$line" ]]; then
    echo "soak: no result from the $what load:" >&2; cat "$tmp/$what.txt" >&2
    total_failures=$((total_failures + 1)); continue
  fi
  calls=$(get calls) failures=$(get failures) rate=$(get calls_per_s)
  printf '%-11s %10d %9d %9d %9.2f %9.2f\n' "$what" "$calls" "$failures" "$rate" \
    "$(awk -v u="$(get p50_us)" 'BEGIN {print u / 1000}')" \
    "$(awk -v u="$(get p99_us)" 'BEGIN {print u / 1000}')"
  total_failures=$((total_failures + failures))
  (( calls > 0 )) || { echo "soak: no $what calls completed" >&2; total_failures=$((total_failures + 1)); }
done
growth=$(awk -v a="$rss_start" -v b="$rss_end" 'BEGIN {printf "%+.1f", (a > 0 ? (b - a) * 100 / a : 0)}')
echo
echo "RSS: start $((rss_start / 1024)) MiB (after ${warmup}s warm-up), end $((rss_end / 1024)) MiB," \
     "growth ${growth}% over $((seconds - warmup - 1))s"
echo "RSS samples:$timeline"
[[ -n "$rss_metric" ]] && echo "process_resident_memory_bytes at the end: $rss_metric"
echo "gpufitd alive: $alive, /healthz $healthz, /readyz $readyz;" \
     "error log lines: $(grep -c '"level":"error"' "$tmp/gpufitd.log" || true)"

status=0
(( total_failures == 0 && load_status == 0 )) || { echo "soak: FAIL: $total_failures failed calls" >&2; status=1; }
[[ "$alive" == yes && "$healthz" == 200 && "$readyz" == 200 ]] || {
  echo "soak: FAIL: gpufitd not serving at the end" >&2; status=1; }
# A clean exit on SIGTERM after the soak (bounded wait).
kill -TERM "$pid" 2>/dev/null || true
exit_code=""
for _ in $(seq 300); do
  kill -0 "$pid" 2>/dev/null || { wait "$pid" && exit_code=0 || exit_code=$?; break; }
  sleep 0.1
done
pid_was=$pid; pid=""
if [[ "$exit_code" != 0 ]]; then
  echo "soak: FAIL: gpufitd (pid $pid_was) exit after SIGTERM: ${exit_code:-none within 30 s}" >&2
  tail -20 "$tmp/gpufitd.log" >&2
  kill -KILL "$pid_was" 2>/dev/null || true
  status=1
else
  echo "gpufitd exited 0 on SIGTERM"
fi
echo "soak: $([[ $status == 0 ]] && echo PASS || echo FAIL)"
exit "$status"

#!/usr/bin/env bash
# Load test of gpufitd's scheduler extender with wrk: POST /filter with a NodeNames body.
#   CACHE=seeded (default): gpufitd's node cache is filled from a local fake Kubernetes API
#     server (list in pages of 500, then a watch that stays open) with NAMES generated nodes
#     in the mix of tests/server/generated_cluster.h (L4, A100, A100 MIG, H100, time-sliced
#     L4, CPU-only, A100 without free GPUs), as in a running cluster.
#   CACHE=empty: --kube-api-url points at a port nothing serves; every name is "not in
#     gpufit's node cache yet" (HTTP + parse + core::Place + a 5000-entry FailedNodes answer).
# bench/extender_bench measures the same paths in-process, without HTTP.
# Usage: bench/run_extender_load.sh [BUILD_DIR] [NAMES] [SECONDS] [CACHE]  (reports calls/s)
set -euo pipefail
build="${1:-build}"; names="${2:-5000}"; seconds="${3:-10}"; cache="${4:-seeded}"
command -v wrk >/dev/null || { echo "wrk missing: scripts/install-deps.sh" >&2; exit 1; }
case "$cache" in seeded|empty) ;; *) echo "CACHE must be seeded or empty" >&2; exit 2;; esac
tmp="$(mktemp -d)"
trap 'kill "${pid:-}" "${api_pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
api_url=http://127.0.0.1:1  # nothing listens: the cache stays empty, the watcher backs off
if [[ "$cache" == seeded ]]; then
  api_port=$(free_port)
  python3 "$(dirname "$0")/fake_kube_api.py" "$api_port" "$names" >"$tmp/api.log" 2>&1 & api_pid=$!
  api_url="http://127.0.0.1:$api_port"
fi
"$build/gpufitd" --grpc-address 127.0.0.1:0 --http-address "127.0.0.1:$port" --log-level error \
  --kube-api-url "$api_url" >"$tmp/gpufitd.log" 2>&1 & pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
if [[ "$cache" == seeded ]]; then
  cached=0
  for _ in $(seq 100); do
    cached=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^gpufit_node_cache_nodes / {print int($2)}')
    [[ "${cached:-0}" -ge "$names" ]] && break; sleep 0.1
  done
  [[ "${cached:-0}" -ge "$names" ]] || { echo "node cache not filled (${cached:-0} nodes)" >&2; cat "$tmp/gpufitd.log" >&2; exit 1; }
fi
python3 - "$names" >"$tmp/body.json" <<'PY'
import json, sys
n = int(sys.argv[1])
pod = {"metadata": {"name": "p", "namespace": "serving", "annotations": {
    "gpufit.io/model": "Qwen/Qwen2.5-14B-Instruct", "gpufit.io/precision": "bf16",
    "gpufit.io/target-concurrency": "24", "gpufit.io/max-context-tokens": "8192"}}}
print(json.dumps({"Pod": pod, "Nodes": None, "NodeNames": [f"node-{i}" for i in range(n)]}))
PY
curl -sS -H "Content-Type: application/json" --data-binary @"$tmp/body.json" "http://127.0.0.1:$port/filter" >"$tmp/answer.json"
python3 - "$tmp/answer.json" <<'PY'
import json, sys
raw = open(sys.argv[1]).read(); a = json.loads(raw)
print(f"answer: {len(raw)} bytes, {len(a['NodeNames'] or [])} kept, {len(a['FailedNodes'] or {})} "
      f"FailedNodes, {len(a['FailedAndUnresolvableNodes'] or {})} FailedAndUnresolvableNodes")
PY
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json"); wrk.body = f:read("*a"); f:close()
LUA
echo "wrk: POST /filter, $names NodeNames, cache $cache, ${seconds}s, 2 threads, 8 connections"
wrk -t2 -c8 -d"${seconds}s" --latency -s "$tmp/post.lua" "http://127.0.0.1:$port/filter" | tee "$tmp/wrk.txt"
echo "calls/s: $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")"

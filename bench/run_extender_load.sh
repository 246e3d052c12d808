#!/usr/bin/env bash
# Load test of gpufitd's scheduler extender with wrk: POST /filter with a NodeNames body.
# Without a node cache every name is "not in gpufit's node cache yet", so this measures the
# HTTP + parse + core::Place + answer path; bench/extender_bench measures the cache path.
# Usage: bench/run_extender_load.sh [BUILD_DIR] [NAMES] [SECONDS]   (reports calls/s)
set -euo pipefail
build="${1:-build}"; names="${2:-5000}"; seconds="${3:-10}"
command -v wrk >/dev/null || { echo "wrk missing: scripts/install-deps.sh" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A cache-capable gpufitd: point --kube-api-url at a port nothing serves (the cache stays
# empty and the watcher backs off quietly).
"$build/gpufitd" --grpc-address 127.0.0.1:0 --http-address "127.0.0.1:$port" --log-level error \
  --kube-api-url http://127.0.0.1:1 >"$tmp/gpufitd.log" 2>&1 & pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
python3 - "$names" >"$tmp/body.json" <<'PY'
import json, sys
n = int(sys.argv[1])
pod = {"metadata": {"name": "p", "namespace": "serving", "annotations": {
    "gpufit.io/model": "Qwen/Qwen2.5-14B-Instruct", "gpufit.io/precision": "bf16",
    "gpufit.io/target-concurrency": "24", "gpufit.io/max-context-tokens": "8192"}}}
print(json.dumps({"Pod": pod, "Nodes": None, "NodeNames": [f"node-{i}" for i in range(n)]}))
PY
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json"); wrk.body = f:read("*a"); f:close()
LUA
echo "wrk: POST /filter, $names NodeNames, ${seconds}s, 2 threads, 8 connections"
wrk -t2 -c8 -d"${seconds}s" --latency -s "$tmp/post.lua" "http://127.0.0.1:$port/filter" | tee "$tmp/wrk.txt"
echo "calls/s: $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")"

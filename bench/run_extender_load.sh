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
  python3 - "$api_port" "$names" >"$tmp/api.log" 2>&1 <<'PY' & api_pid=$!
import http.server, json, socketserver, sys, time, urllib.parse
port, n = int(sys.argv[1]), int(sys.argv[2])
KINDS = ["l4", "l4", "a100", "a100mig", "h100", "l4shared", "cpu", "a100full"]
def node(i):
    kind, name = KINDS[i % 8], f"node-{i}"
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "node.kubernetes.io/instance-type": "g2-standard-24"}
    alloc = {"cpu": "23860m", "memory": "97630928Ki", "pods": "110"}
    nv = lambda k, v: labels.__setitem__("nvidia.com/" + k, v)
    if kind == "l4":
        nv("gpu.product", "NVIDIA-L4"); nv("gpu.count", "2"); nv("gpu.memory", "23034")
        nv("mig.strategy", "none"); alloc["nvidia.com/gpu"] = "2"
    elif kind == "l4shared":
        nv("gpu.product", "NVIDIA-L4-SHARED"); nv("gpu.count", "1"); nv("gpu.replicas", "4")
        alloc["nvidia.com/gpu"] = "4"
    elif kind == "a100":
        nv("gpu.product", "NVIDIA-A100-SXM4-80GB"); nv("gpu.count", "8"); nv("gpu.memory", "81920")
        nv("mig.strategy", "mixed"); alloc["nvidia.com/gpu"] = "8"
    elif kind == "a100full":
        nv("gpu.product", "NVIDIA-A100-80GB-PCIe"); nv("gpu.count", "2"); alloc["nvidia.com/gpu"] = "0"
    elif kind == "a100mig":
        nv("gpu.product", "NVIDIA-A100-SXM4-80GB"); nv("gpu.count", "2"); nv("mig.strategy", "mixed")
        for p, c in (("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)):
            nv(f"mig-{p}.count", str(c)); alloc[f"nvidia.com/mig-{p}"] = str(c)
        alloc["nvidia.com/gpu"] = "1"
    elif kind == "h100":
        nv("gpu.product", "NVIDIA-H100-80GB-HBM3"); nv("gpu.count", "8"); alloc["nvidia.com/gpu"] = "8"
    return {"metadata": {"name": name, "uid": f"uid-{i}", "resourceVersion": str(1000 + i),
                         "labels": labels},
            "spec": {"providerID": f"gce://p/z/{name}"},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True"}]}}
class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if "watch" in q:  # a watch that never sends an event: the cache stays as listed
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            self.wfile.flush(); time.sleep(3600); return
        start = int(q.get("continue", ["0"])[0]); limit = int(q.get("limit", ["500"])[0])
        end = min(n, start + limit)
        body = json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": {
            "resourceVersion": "90000", **({"continue": str(end)} if end < n else {})},
            "items": [node(i) for i in range(start, end)]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
Server(("127.0.0.1", port), Api).serve_forever()
PY
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

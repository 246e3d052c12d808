#!/usr/bin/env python3
# A fake Kubernetes API server for gpufitd's node cache in the load tools
# (bench/run_extender_load.sh, bench/soak.sh): GET /api/v1/nodes lists NAMES generated nodes
# in pages (limit/continue), and a watch (?watch=1) stays open without sending an event, so
# the cache stays as listed. The node mix is that of tests/server/generated_cluster.h (L4,
# A100, A100 MIG, H100, time-sliced L4, CPU-only, A100 without free GPUs); names are
# node-0 .. node-(NAMES-1). Loopback only; not a test peer (tests/k8s has its own).
# Usage: fake_kube_api.py PORT NAMES
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

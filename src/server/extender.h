// The Kubernetes scheduler extender (k8s.io/kube-scheduler/extender/v1) on gpufitd's HTTP
// port: POST {prefix}/filter and {prefix}/prioritize. Wire format as pinned by
// tests/testdata/fixtures/extender/: PascalCase keys, null for unused pointers, HTTP 200 for every
// answer about a pod, a bare JSON array for prioritize, scores 0..10.
//
// Both modes: `Nodes` (nodeCacheCapable: false; the surviving Node objects are echoed as the
// exact bytes received, never re-serialised) and `NodeNames` (nodeCacheCapable: true; node
// details come from the k8s::NodeCache).
//
// Decisions come from the core: one core::Place per call for the pod's workload; the extender
// only maps the decision's options onto each node's accelerators (k8s/node_inventory.h):
//  - keep: a feasible option on an accelerator the node has, with enough allocatable units;
//  - FailedNodes (resolvable): a feasible option the node could host, but no free units;
//    or a name missing from the node cache;
//  - FailedAndUnresolvableNodes: every option on the node's accelerators is rejected (memory,
//    SLO, capability), or the node has no GPU / an unknown GPU product.
// Messages never name the node (kube-scheduler aggregates identical messages).
// Prioritize scores a node 10 x (best objective score in the call / the node's), so the best
// node gets 10 and a node without a usable option 0.
//
// Errors: malformed JSON or wrong types -> HTTP 400 {"error": "..."}; a pod whose annotations
// cannot be turned into a workload -> HTTP 200 with `Error` set (filter) or all scores 0
// (prioritize errors are ignored by kube-scheduler anyway). Pods without gpufit.io/
// annotations pass through: every node kept, every score 0.
//
// Thread-safe: each call takes one config snapshot; the JSON parser is per thread, and a
// thread keeps it between calls only while it is small (kRetainedParserCapacityBytes in the
// .cc): memory for a large body is returned after the call.
#ifndef GPUFIT_SERVER_EXTENDER_H_
#define GPUFIT_SERVER_EXTENDER_H_

#include <cstddef>
#include <string_view>

#include "k8s/node_cache.h"
#include "metrics/extender_probe.h"
#include "server/config_store.h"
#include "server/http_server.h"

namespace gpufit::server {

struct ExtenderOptions {
  // Largest request body accepted. kube-scheduler sends ~10% of a large cluster's nodes; a
  // 500-node Nodes body with images and managedFields is ~10-30 MB.
  size_t max_body_bytes = 64 * 1024 * 1024;
};

class Extender {
 public:
  // Not owned; must outlive the extender. `cache` may be null (no Kubernetes API access: the
  // NodeNames mode then answers with Error). `probe` may be null (tests).
  Extender(const ConfigStore* store, const k8s::NodeCache* cache, metrics::ExtenderProbe* probe,
           ExtenderOptions options = {});

  // `readable_bytes`: how many bytes from body.data() may be read. With simdjson's padding
  // past the body (at least body.size() + kHttpBodyPaddingBytes, as HttpServer's bodies
  // have: pass body.capacity()) the body is parsed in place; else it is copied first.
  HttpResponse Filter(std::string_view body, size_t readable_bytes = 0) const;
  HttpResponse Prioritize(std::string_view body, size_t readable_bytes = 0) const;

  // Adds POST {prefix}/filter and {prefix}/prioritize to `http` (prefix "" or "/gpufit";
  // a trailing '/' is dropped).
  void Register(const std::string& prefix, HttpServer* http) const;

 private:
  HttpResponse Handle(metrics::ExtenderVerb verb, std::string_view body,
                      size_t readable_bytes) const;

  const ConfigStore* store_;
  const k8s::NodeCache* cache_;
  metrics::ExtenderProbe* probe_;
  const ExtenderOptions options_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_EXTENDER_H_

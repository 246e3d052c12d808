// Streaming readers over simdjson On Demand values, for code that is already iterating a
// document (the extender's request, the node list and watch). simdjson compiles On Demand
// into each translation unit for the instruction set its flags allow, so the types below
// differ between flag sets: include this header only from sources compiled with
// GPUFIT_JSON_SIMD_FLAGS (src/k8s/, src/server/extender.cc; see CMakeLists.txt). Other code
// uses the text forms in node_inventory.h and pod_workload.h.
#ifndef GPUFIT_K8S_JSON_READERS_H_
#define GPUFIT_K8S_JSON_READERS_H_

#include "absl/status/status.h"
#include "k8s/node_inventory.h"
#include "k8s/pod_workload.h"
#include "simdjson.h"

namespace gpufit::k8s {

// See ParseNodeFacts. The object is fully consumed on success.
absl::Status ReadNodeFacts(simdjson::ondemand::object node, NodeFacts* facts);
// See ParsePod.
absl::Status ReadPod(simdjson::ondemand::value pod, PodInfo* info);

}  // namespace gpufit::k8s

#endif  // GPUFIT_K8S_JSON_READERS_H_

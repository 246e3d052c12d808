// Kubernetes JSON: a Node object (k8s::ParseNodeFacts + BuildInventory), a Pod
// (k8s::ParsePod + WorkloadFromPod) and the watch stream, line by line
// (NodeWatcher::HandleEventLine into a NodeCache; no network).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/service_config.h"
#include "k8s/node_cache.h"
#include "k8s/node_inventory.h"
#include "k8s/pod_workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* config =
      new gpufit::config::ServiceConfig(gpufit::config::DefaultServiceConfig());
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<gpufit::k8s::NodeFacts> facts = gpufit::k8s::ParseNodeFacts(text);
      facts.ok()) {
    gpufit::k8s::BuildInventory(*facts);
  }
  if (absl::StatusOr<gpufit::k8s::PodInfo> pod = gpufit::k8s::ParsePod(text); pod.ok()) {
    gpufit::k8s::WorkloadFromPod(*pod, *config).IgnoreError();
  }
  gpufit::k8s::NodeCache cache;
  gpufit::k8s::NodeWatcher watcher(gpufit::k8s::KubeApiOptions{}, &cache);
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    watcher.HandleEventLine(text.substr(0, nl)).IgnoreError();
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return 0;
}

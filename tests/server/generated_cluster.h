// A generated cluster for extender tests and benchmarks: realistic core/v1 Node objects (GFD
// labels, capacity/allocatable, conditions, images and managedFields, as kube-scheduler sends
// them) in a mix of L4, A100 80GB (whole and MIG mixed), H100, time-sliced L4 and CPU-only
// nodes. Deterministic: node i always has the same kind.
#ifndef GPUFIT_TESTS_SERVER_GENERATED_CLUSTER_H_
#define GPUFIT_TESTS_SERVER_GENERATED_CLUSTER_H_

#include <string>
#include <vector>

namespace gpufit::testing {

enum class NodeKind { kL4, kA100, kA100Mig, kH100, kL4Shared, kCpu, kA100Full };

inline NodeKind KindOf(int i) {
  static constexpr NodeKind kKinds[] = {NodeKind::kL4,      NodeKind::kL4,      NodeKind::kA100,
                                        NodeKind::kA100Mig, NodeKind::kH100,    NodeKind::kL4Shared,
                                        NodeKind::kCpu,     NodeKind::kA100Full};
  return kKinds[i % 8];
}

inline std::string NodeName(int i) { return "node-" + std::to_string(i); }

inline std::string GeneratedNode(int i) {
  const NodeKind kind = KindOf(i);
  const std::string name = NodeName(i);
  std::string labels = "\"kubernetes.io/hostname\":\"" + name +
                       "\",\"kubernetes.io/os\":\"linux\",\"node.kubernetes.io/instance-type\":"
                       "\"g2-standard-24\",\"topology.kubernetes.io/zone\":\"us-central1-a\"";
  std::string alloc = "\"cpu\":\"23860m\",\"memory\":\"97630928Ki\",\"pods\":\"110\"";
  auto label = [&](const std::string& k, const std::string& v) {
    labels += ",\"nvidia.com/" + k + "\":\"" + v + "\"";
  };
  switch (kind) {
    case NodeKind::kL4:
      label("gpu.product", "NVIDIA-L4");
      label("gpu.count", "2");
      label("gpu.memory", "23034");
      label("mig.strategy", "none");
      alloc += ",\"nvidia.com/gpu\":\"2\"";
      break;
    case NodeKind::kL4Shared:
      label("gpu.product", "NVIDIA-L4-SHARED");
      label("gpu.count", "1");
      label("gpu.replicas", "4");
      alloc += ",\"nvidia.com/gpu\":\"4\"";
      break;
    case NodeKind::kA100:
      label("gpu.product", "NVIDIA-A100-SXM4-80GB");
      label("gpu.count", "8");
      label("gpu.memory", "81920");
      label("mig.strategy", "mixed");
      alloc += ",\"nvidia.com/gpu\":\"8\"";
      break;
    case NodeKind::kA100Full:  // every GPU allocated: allocatable stays, but model "busy"
      label("gpu.product", "NVIDIA-A100-80GB-PCIe");
      label("gpu.count", "2");
      alloc += ",\"nvidia.com/gpu\":\"0\"";
      break;
    case NodeKind::kA100Mig:
      label("gpu.product", "NVIDIA-A100-SXM4-80GB");
      label("gpu.count", "2");
      label("mig.strategy", "mixed");
      label("mig-1g.10gb.count", "2");
      label("mig-2g.20gb.count", "1");
      label("mig-3g.40gb.count", "1");
      alloc +=
          ",\"nvidia.com/gpu\":\"1\",\"nvidia.com/mig-1g.10gb\":\"2\","
          "\"nvidia.com/mig-2g.20gb\":\"1\",\"nvidia.com/mig-3g.40gb\":\"1\"";
      break;
    case NodeKind::kH100:
      label("gpu.product", "NVIDIA-H100-80GB-HBM3");
      label("gpu.count", "8");
      alloc += ",\"nvidia.com/gpu\":\"8\"";
      break;
    case NodeKind::kCpu:
      break;
  }
  std::string node = "{\"metadata\":{\"name\":\"" + name + "\",\"uid\":\"uid-" + std::to_string(i) +
                     "\",\"resourceVersion\":\"" + std::to_string(1000 + i) +
                     "\",\"creationTimestamp\":\"2026-09-01T06:12:31Z\",\"labels\":{" + labels +
                     "},\"annotations\":{\"node.alpha.kubernetes.io/ttl\":\"0\"},"
                     "\"managedFields\":[{\"manager\":\"kubelet\",\"operation\":\"Update\","
                     "\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":"
                     "{\"f:allocatable\":{\".\":{}},\"f:capacity\":{\".\":{}}}}}]},"
                     "\"spec\":{\"podCIDR\":\"10.64.7.0/24\",\"providerID\":\"gce://p/z/" +
                     name + "\"},\"status\":{\"capacity\":{" + alloc + "},\"allocatable\":{" +
                     alloc + "},\"conditions\":[";
  static const char* kConds[] = {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"};
  for (int c = 0; c < 4; ++c) {
    if (c > 0) node += ",";
    node += std::string("{\"type\":\"") + kConds[c] + "\",\"status\":\"" +
            (c == 3 ? "True" : "False") +
            "\",\"lastHeartbeatTime\":\"2026-09-14T08:30:55Z\",\"lastTransitionTime\":"
            "\"2026-09-01T06:12:40Z\",\"reason\":\"KubeletReady\",\"message\":\"kubelet is "
            "posting ready status\"}";
  }
  node += "],\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.128.0." +
          std::to_string(i % 250) +
          "\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}},\"nodeInfo\":{"
          "\"kernelVersion\":\"6.8.0-1031-gcp\",\"osImage\":\"Ubuntu 24.04.2 LTS\","
          "\"containerRuntimeVersion\":\"containerd://2.0.5\",\"kubeletVersion\":\"v1.33.4\"},"
          "\"images\":[";
  for (int k = 0; k < 6; ++k) {
    if (k > 0) node += ",";
    node +=
        "{\"names\":[\"docker.io/vllm/vllm-openai@sha256:5b1e3c7a9d2f4e6b8a0c1d3e5f7a9b2c4d6e8f"
        "0a1b3c5d7e9f1a2b4c6d8e0f2" +
        std::to_string(k) + "\",\"docker.io/vllm/vllm-openai:v0.9." + std::to_string(k) +
        "\"],\"sizeBytes\":9842113024}";
  }
  node += "]}}";
  return node;
}

// The pod of tests/testdata/fixtures/extender (Qwen2.5 14B bf16, 24 sequences, 8k context).
inline std::string SamplePod() {
  return R"({"metadata":{"name":"chat-qwen14b-6d8f7c9b5-k2x7p","namespace":"serving","annotations":{"gpufit.io/max-context-tokens":"8192","gpufit.io/model":"Qwen/Qwen2.5-14B-Instruct","gpufit.io/precision":"bf16","gpufit.io/target-concurrency":"24"}},"spec":{"containers":[{"name":"vllm","image":"vllm/vllm-openai:v0.9.2","resources":{"requests":{"nvidia.com/gpu":"1"}}}]}})";
}

// ExtenderArgs with full Node objects for nodes [0, n).
inline std::string NodesArgs(int n, const std::string& pod = SamplePod()) {
  std::string body = "{\"Pod\":" + pod + ",\"Nodes\":{\"metadata\":{},\"items\":[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) body += ",";
    body += GeneratedNode(i);
  }
  body += "]},\"NodeNames\":null}";
  return body;
}

// ExtenderArgs with the names of nodes [0, n).
inline std::string NodeNamesArgs(int n, const std::string& pod = SamplePod()) {
  std::string body = "{\"Pod\":" + pod + ",\"Nodes\":null,\"NodeNames\":[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) body += ",";
    body += "\"" + NodeName(i) + "\"";
  }
  body += "]}";
  return body;
}

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_SERVER_GENERATED_CLUSTER_H_

// What a Kubernetes node offers gpufit: the catalog accelerators its GPUs are (whole GPUs or
// MIG slices), how many it has and how many the device plugin advertises as allocatable, read
// from NVIDIA GPU Feature Discovery labels and the node's allocatable resources:
//
//   nvidia.com/gpu.product   "NVIDIA-A100-SXM4-80GB", "NVIDIA-L4-SHARED" (time-slicing),
//                            "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb" (MIG strategy single)
//   nvidia.com/gpu.count     physical GPUs (MIG devices under strategy single)
//   nvidia.com/mig.strategy  none | single | mixed
//   nvidia.com/mig-<p>.count MIG devices of profile <p> (strategy mixed)
//   allocatable nvidia.com/gpu, nvidia.com/mig-<p>
//
// Product strings map to catalog ids through a fixed table of the names GFD prints (spaces
// become '-'); a product not in the table is reported in `unknown_product`, never guessed.
// Plain value types; ReadNodeFacts/BuildInventory are pure and thread-safe.
#ifndef GPUFIT_K8S_NODE_INVENTORY_H_
#define GPUFIT_K8S_NODE_INVENTORY_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpufit::k8s {

// The parts of a core/v1 Node gpufit reads; everything else (managedFields, images,
// conditions) is skipped without being decoded.
struct NodeFacts {
  std::string name;
  std::string resource_version;
  std::string product;       // nvidia.com/gpu.product
  std::string mig_strategy;  // nvidia.com/mig.strategy
  int gpu_count = -1;        // nvidia.com/gpu.count; -1 = absent
  int gpu_replicas = 1;      // nvidia.com/gpu.replicas (time-slicing)
  // nvidia.com/mig-<profile>.count labels: {"1g.10gb", 2}.
  std::vector<std::pair<std::string, int>> mig_counts;
  // allocatable nvidia.com/* resources: {"nvidia.com/gpu", 8}, {"nvidia.com/mig-1g.10gb", 2}.
  std::vector<std::pair<std::string, int>> allocatable;
};

// Reads a Node object's JSON text (any key order, with or without kind/apiVersion). Fields of
// the wrong type inside metadata.labels or status.allocatable are ignored; malformed JSON or
// a node without a name is INVALID_ARGUMENT. (The streaming form for code that is already
// iterating a document is in k8s/json_readers.h.)
absl::StatusOr<NodeFacts> ParseNodeFacts(std::string_view node_json);

// One kind of accelerator on a node.
struct NodeAccelerator {
  std::string accelerator_id;  // catalog id: "l4", "a100-80gb", "a100-80gb/3g.40gb"
  std::string resource;        // extended resource: "nvidia.com/gpu", "nvidia.com/mig-3g.40gb"
  int count = 0;               // devices the node has (labels; allocatable if no label)
  int allocatable = 0;         // devices the device plugin advertises
  bool nvlink = true;          // false for PCIe boards: no tensor parallelism across them
  bool time_sliced = false;    // "-SHARED" product: each unit is a share of one GPU
};

struct NodeInventory {
  std::string name;
  std::string resource_version;
  std::vector<NodeAccelerator> accelerators;
  std::string unknown_product;  // a GFD product gpufit has no catalog id for
  bool has_gpu_labels = false;  // nvidia.com/gpu.product present
  // ShapeHash(*this), set by BuildInventory. Most nodes of a cluster share a shape; the
  // extender decides once per shape and call. A stale value costs a cache miss, never a
  // wrong answer (SameShape decides).
  size_t shape_hash = 0;
};

// Builds the inventory and its shape_hash.
NodeInventory BuildInventory(const NodeFacts& facts);

// A node's "shape": everything a placement verdict reads (has_gpu_labels, unknown_product and
// every field of every accelerator, in order), not its name or resourceVersion. Two nodes of
// the same shape get the same filter verdict and score.
size_t ShapeHash(const NodeInventory& node);
bool SameShape(const NodeInventory& a, const NodeInventory& b);

// The catalog id for a GFD product string (without "-SHARED" or "-MIG-<profile>"), or "" if
// unknown. Case-insensitive; spaces are read as '-'. `nvlink` is set to whether the board
// has NVLink (SXM parts) or not (PCIe).
std::string AcceleratorIdForProduct(std::string_view product, bool* nvlink);

}  // namespace gpufit::k8s

#endif  // GPUFIT_K8S_NODE_INVENTORY_H_

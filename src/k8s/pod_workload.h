// Pod -> gpufit workload. A pod is a gpufit workload when it carries annotations under the
// `gpufit.io/` prefix; every other pod is none of gpufit's business (the extender passes it
// through). The annotations (all values are strings, as Kubernetes requires):
//
//   gpufit.io/workload            a workload defined in gpufitd's config (`workloads:`); the
//                                 other annotations override its fields
//   gpufit.io/model               preset id ("qwen2.5-14b") or Hugging Face repo id
//                                 ("Qwen/Qwen2.5-14B-Instruct")
//   gpufit.io/precision           fp32 | bf16 | fp16 | fp8 | int8 | int4
//   gpufit.io/target-concurrency  concurrent sequences the deployment must sustain
//   gpufit.io/max-context-tokens  longest sequence that must fit
//   gpufit.io/input-tokens, gpufit.io/output-tokens   mean prompt / generated lengths
//   gpufit.io/ttft-ms, gpufit.io/tpot-ms              latency targets
//   gpufit.io/objective           cost | latency | throughput
//   gpufit.io/isolation           shared | dedicated
//   gpufit.io/accelerators        comma-separated allow-list ("l4,a100-80gb/*")
//
// An unknown gpufit.io/ key is an error (a typo would otherwise be silently ignored).
// Stateless functions; thread-safe.
#ifndef GPUFIT_K8S_POD_WORKLOAD_H_
#define GPUFIT_K8S_POD_WORKLOAD_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "core/workload.h"

namespace gpufit::k8s {

inline constexpr std::string_view kAnnotationPrefix = "gpufit.io/";

struct PodInfo {
  std::string name;
  std::string namespace_name;
  // gpufit.io/ annotations only, in document order: {"gpufit.io/model", "..."}.
  std::vector<std::pair<std::string, std::string>> annotations;

  bool is_gpufit_workload() const { return !annotations.empty(); }
};

// Reads metadata.name/namespace/annotations of a core/v1 Pod's JSON text (any key order; the
// rest is skipped). INVALID_ARGUMENT if the pod is not an object or the JSON is malformed.
// (The streaming form is in k8s/json_readers.h.)
absl::StatusOr<PodInfo> ParsePod(std::string_view pod_json);

// The workload the pod's annotations describe. Errors are INVALID_ARGUMENT / NOT_FOUND and
// lead with the annotation key: "gpufit.io/target-concurrency: must be a number > 0; got 'x'".
absl::StatusOr<core::Workload> WorkloadFromPod(const PodInfo& pod,
                                               const config::ServiceConfig& config);

// Catalog preset id for a model name: a preset id, or a Hugging Face repo id whose name
// matches a preset's id or source repo once organisation, "Meta-" and suffixes such as
// "-Instruct", "-chat", "-hf", "-it" and "-v0.1" are dropped. "" if none matches.
std::string PresetForModel(std::string_view model, const core::Catalog& catalog);

}  // namespace gpufit::k8s

#endif  // GPUFIT_K8S_POD_WORKLOAD_H_

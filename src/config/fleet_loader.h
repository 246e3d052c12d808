// Reads a fleet file (docs/fleet-planning.md) into core::FleetRequest, and vLLM
// `vllm bench serve --save-result` JSON into measured capacities. Errors read
// "FILE:LINE: field.path: reason", like the workload loader's.
#ifndef GPUFIT_CONFIG_FLEET_LOADER_H_
#define GPUFIT_CONFIG_FLEET_LOADER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/fleet_planner.h"

namespace gpufit::config {

// `base_dir` resolves relative `vllm_bench:` paths (the fleet file's directory).
absl::StatusOr<core::FleetRequest> ParseFleetYaml(std::string_view yaml_text,
                                                  std::string_view filename,
                                                  const std::string& base_dir);
absl::StatusOr<core::FleetRequest> LoadFleetFile(const std::string& path);

// The sustainable rate in a vLLM serving-benchmark result: per run (newline-separated
// documents; `NaN`/`Infinity` tolerated), requests/s = `request_goodput` (or the 2025 key
// `request_goodput:`) when the run had SLOs, else `request_throughput`; concurrency =
// `max_concurrency` scaled by goodput/throughput. The best run wins.
struct VllmBenchCapacity {
  double requests_per_second = 0;
  double concurrency = 0;  // 0 when the run had no --max-concurrency
  int runs = 0;
};
absl::StatusOr<VllmBenchCapacity> ParseVllmBenchResult(std::string_view text,
                                                       std::string_view filename);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_FLEET_LOADER_H_

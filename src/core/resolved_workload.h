// A workload checked against the catalog and with every default applied: the single input
// the performance, memory and placement models read. ResolveWorkload() is where semantic
// validation lives (field-path messages, INVALID_ARGUMENT / NOT_FOUND).
#ifndef GPUFIT_CORE_RESOLVED_WORKLOAD_H_
#define GPUFIT_CORE_RESOLVED_WORKLOAD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/catalog.h"
#include "core/workload.h"

namespace gpufit::core {

struct ResolvedWorkload {
  std::string name;
  Task task = Task::kLlmInference;
  ModelArchitecture architecture;
  const ModelPreset* preset = nullptr;  // null for inline architectures
  Precision weight_precision = Precision::kBf16;
  Precision kv_precision = Precision::kFp16;
  int input_tokens = 0;
  int output_tokens = 0;
  int max_context_tokens = 0;
  double concurrency = 0;               // 0 = not given
  double requests_per_second = 0;       // 0 = not given
  double output_tokens_per_second = 0;  // demanded output rate; 0 = not given
  Slo slo;
  TrainingJob training;  // defaults applied for training tasks
  Objective objective = Objective::kCost;
  Isolation isolation = Isolation::kShared;
  std::vector<std::string> allowed_accelerators;  // empty = all
  int max_gpus_per_replica = 0;
};

// Errors: INVALID_ARGUMENT "workload.traffic.concurrency: must be > 0";
// NOT_FOUND "workload.model: unknown model 'llama-9'; known: ..." and likewise for
// workload.accelerators[i]. `field_prefix` is prepended to every path ("workload").
absl::StatusOr<ResolvedWorkload> ResolveWorkload(const Workload& workload, const Catalog& catalog,
                                                 std::string_view field_prefix = "workload");

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_RESOLVED_WORKLOAD_H_

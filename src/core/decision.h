// The result of placing one workload: every option evaluated (feasible ones ranked by the
// workload's objective, then the rejected ones with the reason), and the recommendation.
// Options point into the Catalog they were computed from; keep it alive meanwhile.
#ifndef GPUFIT_CORE_DECISION_H_
#define GPUFIT_CORE_DECISION_H_

#include <string>
#include <vector>

#include "core/accelerator.h"

namespace gpufit::core {

// Why an option cannot serve the workload. The class is what metrics count by; the kind and
// numbers let render::RejectionText() write the sentence a person reads.
enum class RejectClass { kNone, kMemory, kSlo, kCapability };
enum class RejectKind {
  kNone,
  kMemoryWeights,      // needed/available GiB per GPU: weights + overhead alone do not fit
  kMemoryContext,      // needed/available GiB: one max-context sequence does not fit
  kSloTtft,            // needed = predicted ms at one request, available = target ms
  kSloTpot,            // likewise for TPOT
  kNoNvlink,           // detail = TP degree requested
  kHeadsNotDivisible,  // detail = TP degree; attention heads do not split evenly
  kIsolation,          // dedicated workload on a MIG slice
  kTooManyReplicas,    // needed = replicas the traffic needs, available = kMaxReplicas
};

// More replicas than this for one workload on one option is not a deployment but traffic (or a
// measured capacity) off by orders of magnitude; past it replica counts no longer fit an int.
// Placement rejects such options and the fleet planner such choices.
inline constexpr double kMaxReplicas = 1e6;

struct Rejection {
  RejectClass cls = RejectClass::kNone;
  RejectKind kind = RejectKind::kNone;
  double needed = 0;
  double available = 0;
  int detail = 0;  // kMemoryContext: context tokens; kNoNvlink: TP degree
};

// Memory per GPU of one replica, GiB.
struct MemoryBreakdown {
  double weights_gib = 0;
  double kv_cache_gib = 0;     // at the planned per-replica concurrency
  double activations_gib = 0;  // workspace (vLLM profile peak) or training activations
  double optimizer_gib = 0;    // training: gradients + optimiser states (+ master weights)
  double overhead_gib = 0;     // CUDA context, NCCL, CUDA graphs
  double total_gib = 0;
  double usable_gib = 0;  // physical x gpu_memory_utilization
};

// Predicted behaviour of one replica.
struct Prediction {
  double concurrency = 0;               // requests in flight per replica (planned)
  double output_tokens_per_second = 0;  // per replica at `concurrency`
  double ttft_ms = 0;
  double tpot_ms = 0;
  double max_concurrency = 0;               // largest concurrency that meets the SLO and memory
  double max_output_tokens_per_second = 0;  // at max_concurrency
  double items_per_second = 0;              // non-LLM tasks: images/s, embeddings/s, audio-s/s
  double training_hours = 0;                // training tasks: time for the whole job
  MemoryBreakdown memory;
};

struct Option {
  const Accelerator* accelerator = nullptr;
  int gpus_per_replica = 1;  // tensor-parallel degree
  bool feasible = false;
  Rejection rejection;
  Prediction prediction;
  int replicas = 0;
  double replica_cost_usd_per_hour = 0;
  double cost_usd_per_hour = 0;          // all replicas
  double usd_per_million_tokens = 0;     // output tokens (items for non-LLM tasks)
  double tokens_per_second_per_usd = 0;  // per replica, per $/hour
  double training_cost_usd = 0;          // training: whole job on one replica
  double watts = 0;                      // all replicas at TDP
  double energy_usd_per_year = 0;        // all replicas, 24/7
};

struct Decision {
  std::string workload_name;
  std::vector<Option> options;  // feasible (best first), then rejected
  int recommended = -1;         // index into options; -1 = nothing can serve the workload
  std::string unit = "token";   // what usd_per_million_tokens counts ("token", "image", ...)

  const Option* recommendation() const {
    return recommended >= 0 ? &options[static_cast<size_t>(recommended)] : nullptr;
  }
};

// The sentence a person reads for a rejection is render::RejectionText (render/narration.h).
std::string_view RejectClassName(RejectClass cls);  // "memory", "slo", "capability"

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_DECISION_H_

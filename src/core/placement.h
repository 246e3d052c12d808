// Placement: evaluate every accelerator and tensor-parallel degree for a workload, reject
// what cannot serve it (with the reason), size replicas for the target, price them and rank
// the rest by the workload's objective. Pure and deterministic; microseconds per call.
#ifndef GPUFIT_CORE_PLACEMENT_H_
#define GPUFIT_CORE_PLACEMENT_H_

#include "absl/status/statusor.h"
#include "core/catalog.h"
#include "core/decision.h"
#include "core/resolved_workload.h"

namespace gpufit::core {

// Thread-safe (reads only its arguments). The Decision points into `catalog`.
Decision Place(const ResolvedWorkload& workload, const Catalog& catalog);

// The number Place ranks feasible options by for the workload's objective; smaller is
// better (cost: $/hour of all replicas; latency: ms; throughput: minus tokens/s). Adapters
// that rank subsets of a decision's options (the scheduler extender) use it too.
double ObjectiveScore(const ResolvedWorkload& workload, const Option& option);

// Resolve + Place in one call.
absl::StatusOr<Decision> PlaceWorkload(const Workload& workload, const Catalog& catalog);

// One configuration only (`gpufit predict`): the option for `accelerator_id` with `gpus`
// GPUs per replica (0 = the smallest degree that fits). NOT_FOUND for an unknown id.
absl::StatusOr<Option> PredictOption(const ResolvedWorkload& workload, const Catalog& catalog,
                                     std::string_view accelerator_id, int gpus);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_PLACEMENT_H_

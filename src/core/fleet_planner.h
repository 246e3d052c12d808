// Fleet planning: the cheapest mix of GPUs and MIG layouts that serves every workload of a
// fleet within its latency targets. Candidates per workload (or traffic bucket) come from
// core::Place (memory fit, SLO, replicas), optionally overridden by measured capacity; the
// choice across workloads is an exact MIP (fleet_solver.h). Pure: no I/O. Thread-safe.
#ifndef GPUFIT_CORE_FLEET_PLANNER_H_
#define GPUFIT_CORE_FLEET_PLANNER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/catalog.h"
#include "core/fleet_problem.h"
#include "core/workload.h"

namespace gpufit::core {

// One request-size class of a bucketed workload (Mélange): a share of the request rate.
struct TrafficBucket {
  int input_tokens = 0;
  int output_tokens = 0;
  double fraction = 0;  // of the workload's requests_per_second; fractions are normalised
};

// Traffic given as a distribution over (input, output) buckets with a total request rate.
// Each bucket's rate is cut into `slice_factor` equal slices; slices may go to different
// accelerator types.
struct BucketedTraffic {
  double requests_per_second = 0;
  std::vector<TrafficBucket> buckets;
  int slice_factor = 4;
};

struct FleetWorkload {
  Workload workload;                       // model, precision, SLO, allow-list, traffic
  std::optional<BucketedTraffic> buckets;  // replaces workload.traffic's demand when set
};

// Per GPU type fleet options.
struct FleetGpuOptions {
  std::string accelerator;         // whole-GPU id, e.g. "a100-80gb"
  int max_count = -1;              // -1 = no limit
  int owned = 0;                   // sunk cost: the first `owned` are free
  double price_usd_per_hour = -1;  // < 0 = catalog price
};

// Measured capacity at the SLO of one (workload [, bucket], accelerator): overrides the
// model's per-replica capacity. Give requests/s, concurrency or both.
struct MeasuredCapacity {
  std::string workload;
  int bucket = -1;           // index into the workload's buckets; -1 = the workload as a whole
  std::string accelerator;   // "l4", "a100-80gb/3g.40gb"
  int gpus_per_replica = 0;  // 0 = any degree the model finds feasible
  double requests_per_second = 0;
  double concurrency = 0;
  std::string source;  // where it came from ("vllm-bench.json"), for the report
};

struct FleetRequest {
  std::string name;
  std::vector<FleetWorkload> workloads;
  std::vector<std::string> accelerators;  // whole-GPU ids the fleet may buy; empty = catalog
  bool allow_mig = true;
  std::vector<FleetGpuOptions> gpus;
  std::vector<MeasuredCapacity> measured;
  FleetSolveOptions solve;
};

struct FleetAssignment {
  std::string accelerator;  // "l4", "a100-80gb/1g.10gb"
  int gpus_per_replica = 1;
  int replicas = 0;
  double load_fraction = 1;  // share of the workload's requests served here
  bool measured = false;     // capacity from a measurement, not the model
};

struct FleetWorkloadPlan {
  std::string name;
  std::vector<FleetAssignment> assignments;
};

struct FleetMigLayout {
  std::string name;  // mig-parted config name, e.g. "all-1g.10gb" style "7x1g.10gb"
  int gpus = 0;
  std::vector<std::pair<std::string, int>> instances;  // (profile, start slot)
};

struct FleetGpuPlan {
  std::string accelerator;
  int count = 0;
  int whole = 0;  // used without MIG
  int owned_used = 0;
  double price_usd_per_hour = 0;
  double cost_usd_per_hour = 0;
  std::vector<FleetMigLayout> mig_layouts;
};

struct SingleTypeFleet {
  std::string accelerator;
  bool feasible = false;
  double cost_usd_per_hour = 0;
};

struct FleetPlan {
  std::string name;
  std::vector<FleetWorkloadPlan> workloads;
  std::vector<FleetGpuPlan> gpus;  // only types with count > 0
  double cost_usd_per_hour = 0;
  double lower_bound_usd_per_hour = 0;
  double gap = 0;
  bool optimal = false;
  std::string method;
  double solve_seconds = 0;
  double heuristic_cost_usd_per_hour = 0;
  std::vector<SingleTypeFleet> single_type;  // best fleet using one GPU type only
};

// Errors: INVALID_ARGUMENT / NOT_FOUND with a field path ("workloads[2].model: ...");
// FAILED_PRECONDITION when no plan exists ("workloads[1] (x): no allowed accelerator ...").
absl::StatusOr<FleetPlan> PlanFleet(const FleetRequest& request, const Catalog& catalog);

// Builds the optimisation problem only (for tests and benchmarks).
absl::StatusOr<FleetProblem> BuildFleetProblem(const FleetRequest& request, const Catalog& catalog);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_PLANNER_H_

// Fleet planning: the cheapest mix of GPUs and MIG layouts that serves every workload of a
// fleet within its latency targets. Candidates per workload (or traffic bucket) come from
// core::Place (memory fit, SLO, replicas), optionally overridden by measured capacity; the
// choice across workloads is an exact MIP (fleet_solver.h). Pure: no I/O. Thread-safe.
//
// Size: a request is refused (INVALID_ARGUMENT naming the field) past the bounds of
// core/limits.h (kMaxFleetWorkloads, kMaxFleetBuckets, kMaxSliceFactor, kMaxFleetGpuTypes,
// kMaxMeasuredCapacities, kMaxFleetCells, kMaxFleetBucketCells); fleets of more than
// kMaxSmallFleetCells cells are solved without CBC's driver (FleetSolveOptions::cbc_driver),
// so that they can run alongside small ones.
#ifndef GPUFIT_CORE_FLEET_PLANNER_H_
#define GPUFIT_CORE_FLEET_PLANNER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/catalog.h"
#include "core/fleet_problem.h"
#include "core/fleet_stop.h"
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
  // time_limit_seconds bounds the whole PlanFleet call (problem building, the plan, the
  // single-type comparisons); cbc_driver is set by PlanFleet from the fleet's size.
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
  // The time limit (or the caller's deadline) struck first: the plan is the best found by then
  // (see gap), and single-type fleets past the time are the heuristic's.
  bool time_limit_reached = false;
};

// Errors: INVALID_ARGUMENT / NOT_FOUND with a field path ("workloads[2].model: ...");
// FAILED_PRECONDITION when no plan exists ("workloads[1] (x): no allowed accelerator ...");
// DEADLINE_EXCEEDED when the time limit or `stop`'s deadline passes before any plan exists,
// CANCELLED when `stop` says the caller has gone. request.solve.time_limit_seconds bounds the
// whole call: the plan gets three quarters of what is left after building the problem, the
// single-type comparisons share the rest (each at most a quarter of the plan's time; with no
// time left, the heuristic alone).
absl::StatusOr<FleetPlan> PlanFleet(const FleetRequest& request, const Catalog& catalog,
                                    const FleetStop& stop = {});

// Builds the optimisation problem only (for tests and benchmarks). Plain workloads keep only
// the choices no other choice dominates (one on the same GPU type that uses fewer GPUs, or
// fewer or smaller MIG instances that fit where these do): the optimum is the same.
absl::StatusOr<FleetProblem> BuildFleetProblem(const FleetRequest& request, const Catalog& catalog,
                                               const FleetStop& stop = {});

// The size of the request's problem (core/limits.h): Σ over workloads of (buckets, or 1) x the
// GPUs and MIG profiles of the fleet's accelerators, about the MIP's integer columns (a GPU
// with several tensor-parallel degrees counts once). Computable before anything is placed, so
// that gpufitd admits by it.
struct FleetSize {
  int64_t cells = 0;         // every workload
  int64_t bucket_cells = 0;  // bucketed workloads only
};
FleetSize MeasureFleet(const FleetRequest& request, const Catalog& catalog);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_PLANNER_H_

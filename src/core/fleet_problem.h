// The fleet planner's optimisation problem in solver terms, and its solution. The planner
// (fleet_planner.h) builds it from workloads and the catalog; tests and benchmarks also
// build it directly, e.g. from Mélange's bucketed instances. Plain value types.
//
// Model. Physical GPU types t have a price, an owned count (sunk cost: the first `owned`
// cost nothing) and an optional limit. A *resource* is a whole GPU of type t or one MIG
// profile of it. MIG instances come from physical GPUs laid out by *patterns* (maximal valid
// layouts, fleet_mig.h); the plan buys counts of patterns, so the GPU count is exact.
// A *demand* is either
//  - plain: a workload served by exactly one of its `choices` (resource, GPUs per replica,
//    replicas already sized by core::Place), or
//  - bucketed (Mélange): request-size buckets with a rate each; every bucket's rate is cut
//    into `slice_factor` equal slices and each slice goes to one resource; replicas of
//    (demand, resource) must carry the load assigned to it, where one replica carries
//    `capacity` requests/s of a bucket.
#ifndef GPUFIT_CORE_FLEET_PROBLEM_H_
#define GPUFIT_CORE_FLEET_PROBLEM_H_

#include <string>
#include <vector>

#include "core/accelerator.h"
#include "core/fleet_mig.h"

namespace gpufit::core {

struct FleetGpuType {
  std::string id;  // catalog id ("a100-80gb") or any label
  double price_usd_per_hour = 0;
  int owned = 0;                         // already paid for: the first `owned` GPUs cost 0
  int max_count = -1;                    // at most this many in the plan; -1 = no limit
  std::vector<MigProfile> mig_profiles;  // profiles the plan may carve; empty = whole GPUs only
  std::vector<MigPattern> patterns;      // EnumerateMigPatterns(mig_profiles)
};

struct FleetResource {
  int gpu_type = 0;
  int profile = -1;         // index into the type's mig_profiles; -1 = the whole GPU
  std::string accelerator;  // "l4", "a100-80gb/1g.10gb"
};

struct FleetChoice {
  int resource = 0;
  int gpus_per_replica = 1;  // tensor-parallel degree (1 for MIG instances)
  int replicas = 1;          // plain demands: replicas needed on this resource alone
};

struct FleetBucket {
  std::string name;                // "in512-out256"
  double requests_per_second = 0;  // this bucket's share of the rate
  std::vector<double> capacity;    // req/s one replica sustains, per bucket_choices; 0 = cannot
};

struct FleetDemand {
  std::string name;
  std::vector<FleetChoice> choices;  // plain demand: take exactly one
  // Bucketed demand (when `buckets` is not empty): resources + TP degree it may use.
  std::vector<FleetChoice> bucket_choices;
  std::vector<FleetBucket> buckets;
  int slice_factor = 1;
  double headroom = 0;  // replicas carry load x (1 + headroom)
  bool bucketed() const { return !buckets.empty(); }
};

struct FleetProblem {
  std::vector<FleetGpuType> gpu_types;
  std::vector<FleetResource> resources;
  std::vector<FleetDemand> demands;
};

// How to solve. The defaults meet the target (within 1% in under a second).
struct FleetSolveOptions {
  double time_limit_seconds = 1.0;
  double relative_gap = 0.01;  // stop when (cost - bound) / cost <= this (the issue: 1%)
  bool exact = true;           // false: heuristic only
  // true: CBC's full driver (CbcMain1, with its cut generators and heuristics), the best on
  // small fleets; it keeps process-wide state, so such solves run one at a time in the process
  // (a mutex). false: CBC's branch and bound with a few reentrant cut generators, which runs
  // concurrently with any other solve (large fleets; see kMaxSmallFleetCells in limits.h).
  bool cbc_driver = true;
};

struct FleetSolution {
  bool feasible = false;
  std::vector<int> choice;  // per demand: index into choices (-1 bucketed)
  std::vector<std::vector<std::vector<int>>> bucket_slices;  // per demand: [bucket][choice]
  std::vector<std::vector<int>> bucket_replicas;             // per demand: [bucket_choice]
  std::vector<int> whole_gpus;                               // per GPU type: used without MIG
  std::vector<std::vector<int>> pattern_counts;              // per GPU type: GPUs per pattern
  double cost_usd_per_hour = 0;
  double heuristic_cost_usd_per_hour = 0;  // the warm start (or +inf when it found none)
  double lower_bound_usd_per_hour = 0;     // proven: no plan costs less
  bool optimal = false;                    // proven within the requested relative gap... or exactly
  double gap = 0;                          // (cost - bound) / cost
  std::string method;                      // "mip", "mip-timeout", "heuristic"
  double solve_seconds = 0;
  // The time limit or the caller's deadline struck before the search finished (proved the
  // plan within relative_gap, or found nothing to improve): the plan is the best found by then.
  bool time_limit_reached = false;
  bool cancelled = false;    // the caller cancelled: the plan is whatever was found by then
  int Gpus(int type) const;  // physical GPUs of `type` in the plan
};

// Σ price x max(0, count - owned) over GPU types.
double FleetCost(const FleetProblem& problem, const FleetSolution& solution);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_PROBLEM_H_

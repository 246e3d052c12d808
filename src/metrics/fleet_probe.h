// Metrics of fleet planning (PlanFleet): plans by outcome, and the last plan this replica
// answered: its cost, the cheapest single-GPU-type fleet it was compared with, its proven
// gap, the GPUs it buys, and solver time. Outcome children are created up front; the GPU
// series are bounded by the catalog's accelerators (the planner only returns catalog ids).
// Thread-safe.
#ifndef GPUFIT_METRICS_FLEET_PROBE_H_
#define GPUFIT_METRICS_FLEET_PROBE_H_

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

// The `result` label of gpufit_fleet_plans_total.
enum class FleetPlanResult {
  kOptimal,     // a plan, proven cheapest (within the requested gap)
  kFeasible,    // a plan, but the time limit ended the search with a gap left
  kInfeasible,  // no fleet serves the workloads (FAILED_PRECONDITION)
  kInvalid,     // the request was wrong (INVALID_ARGUMENT, NOT_FOUND): the client's mistake
  kError,       // gpufitd did not plan: solver busy, deadline, internal error
};
inline constexpr int kFleetPlanResultCount = 5;

std::string_view FleetPlanResultName(FleetPlanResult result);  // "optimal"

// What the gauges show of one plan.
struct FleetPlanSummary {
  double cost_usd_per_hour = 0;
  // The cheapest feasible single-GPU-type fleet; NaN when no single type serves the fleet.
  double best_single_type_cost_usd_per_hour = 0;
  double gap_ratio = 0;      // (cost - proven lower bound) / cost; 0 when optimal
  double solve_seconds = 0;  // the solver's time for the plan
  std::vector<std::pair<std::string, int>> gpus;  // (accelerator, count) bought
};

class FleetProbe {
 public:
  explicit FleetProbe(prometheus::Registry& registry);
  FleetProbe(const FleetProbe&) = delete;
  FleetProbe& operator=(const FleetProbe&) = delete;

  // Counts one PlanFleet call without a plan (kInfeasible, kInvalid, kError).
  void RecordFailure(FleetPlanResult result);
  // Counts one plan (kOptimal or kFeasible) and makes it the "last plan" of the gauges.
  void RecordPlan(bool optimal, const FleetPlanSummary& plan);

 private:
  std::array<prometheus::Counter*, kFleetPlanResultCount> plans_{};
  prometheus::Histogram* solve_seconds_;
  prometheus::Family<prometheus::Gauge>* cost_;
  prometheus::Family<prometheus::Gauge>* single_type_cost_;
  prometheus::Family<prometheus::Gauge>* gap_;
  prometheus::Family<prometheus::Gauge>* gpus_;

  std::mutex mu_;
  // The last-plan gauges exist from the first plan on: before it there is no "last plan",
  // and a 0 would read as a free fleet. Guarded by mu_.
  prometheus::Gauge* cost_child_ = nullptr;
  prometheus::Gauge* single_type_cost_child_ = nullptr;
  prometheus::Gauge* gap_child_ = nullptr;
  std::vector<prometheus::Gauge*> gpu_children_;
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_FLEET_PROBE_H_

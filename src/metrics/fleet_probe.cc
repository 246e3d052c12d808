#include "metrics/fleet_probe.h"

#include <map>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {

std::string_view FleetPlanResultName(FleetPlanResult result) {
  switch (result) {
    case FleetPlanResult::kOptimal:
      return "optimal";
    case FleetPlanResult::kFeasible:
      return "feasible";
    case FleetPlanResult::kInfeasible:
      return "infeasible";
    case FleetPlanResult::kInvalid:
      return "invalid";
    case FleetPlanResult::kError:
      return "error";
  }
  return "unknown";
}

FleetProbe::FleetProbe(prometheus::Registry& registry) {
  auto& plans = prometheus::BuildCounter()
                    .Name("gpufit_fleet_plans_total")
                    .Help(
                        "PlanFleet calls by outcome: optimal, feasible (time limit hit with a "
                        "gap left), infeasible (no fleet serves), invalid (bad request), error "
                        "(solver busy, deadline, internal).")
                    .Register(registry);
  for (int r = 0; r < kFleetPlanResultCount; ++r) {
    plans_[r] =
        &plans.Add({{"result", std::string(FleetPlanResultName(static_cast<FleetPlanResult>(r)))}});
  }
  cost_ = &prometheus::BuildGauge()
               .Name("gpufit_fleet_plan_cost_usd_per_hour")
               .Help("Cost of the last fleet plan this replica returned, USD per hour.")
               .Register(registry);
  single_type_cost_ =
      &prometheus::BuildGauge()
           .Name("gpufit_fleet_plan_single_type_cost_usd_per_hour")
           .Help(
               "Cost of the cheapest fleet of one GPU type for the last plan's workloads, USD "
               "per hour (NaN when no single type serves them all).")
           .Register(registry);
  gap_ = &prometheus::BuildGauge()
              .Name("gpufit_fleet_plan_gap_ratio")
              .Help(
                  "Proven optimality gap of the last fleet plan: (cost - lower bound) / cost; "
                  "0 = proven cheapest.")
              .Register(registry);
  // CBC from a few milliseconds (small fleets) to the 10 s cap (kMaxFleetSolveSeconds).
  solve_seconds_ = &prometheus::BuildHistogram()
                        .Name("gpufit_fleet_plan_solve_seconds")
                        .Help("Solver time of each fleet plan returned.")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5,
                                                                         1, 2.5, 5, 10, 20});
  gpus_ = &prometheus::BuildGauge()
               .Name("gpufit_fleet_plan_gpus")
               .Help("GPUs of each type the last fleet plan buys (whole GPUs and MIG parents).")
               .Register(registry);
}

void FleetProbe::RecordFailure(FleetPlanResult result) {
  plans_[static_cast<int>(result)]->Increment();
}

void FleetProbe::RecordPlan(bool optimal, const FleetPlanSummary& plan) {
  plans_[static_cast<int>(optimal ? FleetPlanResult::kOptimal : FleetPlanResult::kFeasible)]
      ->Increment();
  solve_seconds_->Observe(plan.solve_seconds);
  std::lock_guard<std::mutex> lock(mu_);
  if (cost_child_ == nullptr) {
    cost_child_ = &cost_->Add({});
    single_type_cost_child_ = &single_type_cost_->Add({});
    gap_child_ = &gap_->Add({});
  }
  cost_child_->Set(plan.cost_usd_per_hour);
  single_type_cost_child_->Set(plan.best_single_type_cost_usd_per_hour);
  gap_child_->Set(plan.gap_ratio);
  for (prometheus::Gauge* g : gpu_children_) gpus_->Remove(g);
  gpu_children_.clear();
  std::map<std::string, int> by_type;  // one series per type even if a type came twice
  for (const auto& [accelerator, count] : plan.gpus) by_type[accelerator] += count;
  for (const auto& [accelerator, count] : by_type) {
    prometheus::Gauge& g = gpus_->Add({{"accelerator", accelerator}});
    g.Set(count);
    gpu_children_.push_back(&g);
  }
}

}  // namespace gpufit::metrics

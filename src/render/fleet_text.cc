#include "render/fleet_text.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "render/mig_parted.h"
#include "render/proto_text.h"

namespace gpufit::render {

namespace {

// "optimal" only for a zero gap: a plan proven within the requested gap (1% by default) is
// said to be that, so a reader never takes a 0.8% gap for an optimum.
std::string OptimalityWords(const core::FleetPlan& plan) {
  if (!plan.optimal) return "not proven within the requested gap";
  return plan.gap <= 1e-9 ? "optimal" : "within the requested gap";
}

}  // namespace

void RenderFleetTable(const core::FleetPlan& plan, std::ostream& out) {
  out << absl::StrFormat("Fleet '%s': $%.2f/h (%s, %s; bound $%.2f/h, gap %.2f%%, %.3f s)\n",
                         plan.name, plan.cost_usd_per_hour, OptimalityWords(plan), plan.method,
                         plan.lower_bound_usd_per_hour, 100 * plan.gap, plan.solve_seconds);
  std::vector<std::string> singles;
  double best_single = -1;
  for (const core::SingleTypeFleet& s : plan.single_type) {
    if (!s.feasible) continue;
    singles.push_back(absl::StrFormat("%s only $%.2f/h", s.accelerator, s.cost_usd_per_hour));
    if (best_single < 0 || s.cost_usd_per_hour < best_single) best_single = s.cost_usd_per_hour;
  }
  if (!singles.empty()) {
    out << absl::StrJoin(singles, ", ") << ", this plan "
        << absl::StrFormat("$%.2f/h", plan.cost_usd_per_hour);
    if (best_single > 0) {
      out << absl::StrFormat(": %.0f%% cheaper than the best single type",
                             100 * (best_single - plan.cost_usd_per_hour) / best_single);
    }
    out << "\n";
  } else {
    out << "No single GPU type can serve every workload on its own.\n";
  }
  out << "\nWORKLOAD                        ACCELERATOR               GPUS  REPLICAS  LOAD\n";
  for (const core::FleetWorkloadPlan& w : plan.workloads) {
    for (const core::FleetAssignment& a : w.assignments) {
      out << absl::StrFormat("%-31s %-25s %4d  %8d  %3.0f%%%s\n", w.name, a.accelerator,
                             a.gpus_per_replica, a.replicas, 100 * a.load_fraction,
                             a.measured ? "  (measured)" : "");
    }
  }
  out << "\nGPU                 COUNT  OWNED      $/H  LAYOUT\n";
  for (const core::FleetGpuPlan& g : plan.gpus) {
    std::vector<std::string> layouts;
    if (g.whole > 0) layouts.push_back(absl::StrCat(g.whole, " whole"));
    for (const core::FleetMigLayout& l : g.mig_layouts) {
      layouts.push_back(
          absl::StrCat(l.gpus, " as ", l.name, " (", MigConfigName(g.accelerator, l.name), ")"));
    }
    out << absl::StrFormat("%-19s %5d  %5d  %7.2f  %s\n", g.accelerator, g.count, g.owned_used,
                           g.cost_usd_per_hour, absl::StrJoin(layouts, ", "));
  }
}

}  // namespace gpufit::render

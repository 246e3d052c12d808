// Output of `gpufit fleet`: the plan as a table, JSON or YAML, and the NVIDIA mig-parted
// config for its MIG layouts.
#ifndef GPUFIT_CLI_FLEET_RENDER_H_
#define GPUFIT_CLI_FLEET_RENDER_H_

#include <ostream>
#include <string>

#include "core/fleet_planner.h"

namespace gpufit::cli {

void RenderFleetTable(const core::FleetPlan& plan, std::ostream& out);
// The proto3 JSON (and the same document as YAML) of gpufit.v1.FleetPlan, converted by
// config::ToProto: what the PlanFleet RPC returns for the same fleet.
std::string FleetPlanJson(const core::FleetPlan& plan);
std::string FleetPlanYaml(const core::FleetPlan& plan);

// mig-parted config (`version: v1`, `mig-configs:`): one named config per layout used, named
// "<gpu>-<layout>" (a valid `nvidia.com/mig.config` label value), plus `all-disabled`.
std::string MigPartedConfig(const core::FleetPlan& plan);
// The label value for one layout of `gpu`.
std::string MigConfigName(const std::string& gpu, const std::string& layout);

}  // namespace gpufit::cli

#endif  // GPUFIT_CLI_FLEET_RENDER_H_

// NVIDIA mig-parted configuration for a fleet plan's MIG layouts: what `gpufit fleet
// --output mig-parted` prints and PlanFleet returns in FleetPlan.mig_parted_config. Pure
// functions; thread-safe.
#ifndef GPUFIT_RENDER_MIG_PARTED_H_
#define GPUFIT_RENDER_MIG_PARTED_H_

#include <string>

#include "core/fleet_planner.h"

namespace gpufit::render {

// mig-parted config (`version: v1`, `mig-configs:`): one named config per layout used, named
// MigConfigName(gpu, layout) (a valid `nvidia.com/mig.config` label value), plus
// `all-disabled`.
std::string MigPartedConfig(const core::FleetPlan& plan);
// "a100-80gb-7x1g.10gb": Kubernetes label-value safe (<= 63 of [A-Za-z0-9_.-]).
std::string MigConfigName(const std::string& gpu, const std::string& layout);

}  // namespace gpufit::render

#endif  // GPUFIT_RENDER_MIG_PARTED_H_

// A fleet plan for people: the table of `gpufit fleet`. As JSON or YAML it is the PlanFleet
// message (render::ToJson(api::ToProto(plan))); the mig-parted config is render/mig_parted.h.
#ifndef GPUFIT_RENDER_FLEET_TEXT_H_
#define GPUFIT_RENDER_FLEET_TEXT_H_

#include <ostream>
#include <string>

#include "core/fleet_planner.h"

namespace gpufit::render {

void RenderFleetTable(const core::FleetPlan& plan, std::ostream& out);
}  // namespace gpufit::render

#endif  // GPUFIT_RENDER_FLEET_TEXT_H_

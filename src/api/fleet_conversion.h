// Conversions between the fleet planner's core types (core/fleet_planner.h) and the public
// API messages of proto/gpufit/v1/fleet.proto (the plan's mig-parted config comes from
// render/mig_parted.h). The CLI
// (`gpufit fleet --output json|yaml`) and the PlanFleet RPC both go through ToProto(FleetPlan),
// so they print the same plan. Stateless functions; thread-safe.
#ifndef GPUFIT_API_FLEET_CONVERSION_H_
#define GPUFIT_API_FLEET_CONVERSION_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/fleet_planner.h"
#include "gpufit/v1/fleet.pb.h"

namespace gpufit::api {

// Checks what the message can carry but the core cannot (names required and unique, measured
// capacities naming a workload of the fleet and an existing bucket, negative counts) and
// applies the proto defaults (allow_mig unset -> true, slice_factor 0 -> 4, time limit 0 ->
// 1 s, relative_gap unset -> 0.01). Errors lead with `field_prefix`.field.path:
// INVALID_ARGUMENT, or NOT_FOUND for a measurement naming an unknown workload.
absl::StatusOr<core::FleetRequest> FromProto(const gpufit::v1::FleetRequest& proto,
                                             std::string_view field_prefix = "fleet");
gpufit::v1::FleetRequest ToProto(const core::FleetRequest& request);

// The plan, including its mig-parted config (render::MigPartedConfig).
gpufit::v1::FleetPlan ToProto(const core::FleetPlan& plan);

// Rewrites a core::PlanFleet error, whose field paths are those of the YAML fleet format
// ("workloads[2].traffic.concurrency", "workloads[0].buckets.distribution[1]"), into the
// request message's ("fleet.workloads[2].workload.traffic.concurrency",
// "fleet.workloads[0].bucketed_traffic.buckets[1]"; "measured[1]" becomes
// "fleet.measured_capacities[1]"). The code is kept.
absl::Status FleetStatusToProtoPaths(const absl::Status& status,
                                     std::string_view field_prefix = "fleet");

}  // namespace gpufit::api

#endif  // GPUFIT_API_FLEET_CONVERSION_H_

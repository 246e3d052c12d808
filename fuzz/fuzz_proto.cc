// gRPC request messages in wire format, as a client sends them. The first byte picks the
// message, the rest is its encoding:
//   0: PlaceRequest     -> server::Place (config::FromProto, ResolveWorkload, core::Place and
//                          the decision back to proto)
//   1: PredictRequest   -> server::Predict
//   2: PlanFleetRequest -> api::FromProto(FleetRequest) and core::BuildFleetProblem, the
//                          validation and capacity model of PlanFleet without the CBC solve
//                          (milliseconds per call; fuzz_fleet covers the same via YAML).
// Seeds: fuzz/corpus/fuzz_proto, encoded from fuzz/proto_seeds/*.txtpb by
// fuzz/make_proto_seeds.sh.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "api/fleet_conversion.h"
#include "config/service_config.h"
#include "core/fleet_planner.h"
#include "google/protobuf/stubs/logging.h"
#include "gpufit/v1/placement_service.pb.h"
#include "server/placement_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* config = [] {
    // Invalid UTF-8 in string fields is an expected parse failure; its log line per input
    // would cost more than the input.
    google::protobuf::SetLogHandler(nullptr);
    return new gpufit::config::ServiceConfig(gpufit::config::DefaultServiceConfig());
  }();
  if (size == 0) return 0;
  const uint8_t kind = data[0] % 3;
  const void* bytes = data + 1;
  const int length = static_cast<int>(size - 1);
  if (kind == 0) {
    gpufit::v1::PlaceRequest request;
    if (!request.ParseFromArray(bytes, length)) return 0;
    gpufit::server::Place(*config, request).IgnoreError();
  } else if (kind == 1) {
    gpufit::v1::PredictRequest request;
    if (!request.ParseFromArray(bytes, length)) return 0;
    gpufit::server::Predict(*config, request).IgnoreError();
  } else {
    gpufit::v1::PlanFleetRequest request;
    if (!request.ParseFromArray(bytes, length)) return 0;
    absl::StatusOr<gpufit::core::FleetRequest> fleet =
        gpufit::api::FromProto(request.fleet(), "fleet");
    if (!fleet.ok()) return 0;
    gpufit::api::ToProto(*fleet);
    absl::StatusOr<gpufit::core::FleetProblem> problem =
        gpufit::core::BuildFleetProblem(*fleet, *config->catalog);
    if (!problem.ok()) {
      gpufit::api::FleetStatusToProtoPaths(problem.status(), "fleet").IgnoreError();
    }
  }
  return 0;
}

// gpufit.v1.PlacementService over gRPC: Place, Predict, GetCatalog and PlanFleet against the
// config in force. Each call takes one ConfigStore snapshot and holds it to the end (decisions
// point into its catalog), converts with config/proto_conversion.h and decides with the core, so
// the answer is the CLI's for the same input. Placement is pure: no call changes any state
// but the metrics. Thread-safe; gRPC runs calls concurrently.
#ifndef GPUFIT_SERVER_PLACEMENT_SERVICE_H_
#define GPUFIT_SERVER_PLACEMENT_SERVICE_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "core/decision.h"
#include "core/fleet_stop.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "metrics/decision_probe.h"
#include "metrics/fleet_probe.h"
#include "metrics/grpc_probe.h"
#include "server/admission.h"
#include "server/config_store.h"
#include "server/fleet_lanes.h"

namespace gpufit::server {

// Transport-free halves of the RPCs, for every adapter that answers the same questions.
// Errors: INVALID_ARGUMENT / NOT_FOUND with the field path first ("workload.traffic...").
// `decision` (optional) receives the core decision, which points into config.catalog.
absl::StatusOr<gpufit::v1::PlaceResponse> Place(const config::ServiceConfig& config,
                                                const gpufit::v1::PlaceRequest& request,
                                                core::Decision* decision = nullptr);
absl::StatusOr<gpufit::v1::PredictResponse> Predict(const config::ServiceConfig& config,
                                                    const gpufit::v1::PredictRequest& request);
gpufit::v1::GetCatalogResponse GetCatalog(const config::ServiceConfig& config);

// Default upper bound on one whole PlanFleet call (building the problem, the plan and the
// single-type comparison fleets), whatever the request asks (gpufitd --fleet-solve-seconds).
// 10 s plans the largest fleets core/limits.h allows, e.g. the 1000 workloads over the
// full catalog (bench/fleet_size_bench.cc).
inline constexpr double kMaxFleetSolveSeconds = 10.0;

// `max_seconds` bounds the whole call: the request's time limit is capped at it, and the core
// spends it on the plan and the single-type comparisons. `stop` ends it earlier (the call's
// deadline, the client cancelling). Not admission-controlled: the service admits by size
// (FleetLanes). Errors: INVALID_ARGUMENT / NOT_FOUND with request field paths
// ("fleet.workloads[1].workload.model: ..."), FAILED_PRECONDITION when no fleet can serve,
// DEADLINE_EXCEEDED / CANCELLED when stopped before any plan exists.
absl::StatusOr<gpufit::v1::PlanFleetResponse> PlanFleet(const config::ServiceConfig& config,
                                                        const gpufit::v1::PlanFleetRequest& request,
                                                        double max_seconds = kMaxFleetSolveSeconds,
                                                        const core::FleetStop& stop = {});

// Place and Predict take microseconds of CPU: they run inline on gRPC's callback threads
// (the callback API), which spares each call the sync server's hand-off between its polling
// and worker threads, most of a small call's cost. They never wait for an admission slot:
// when slow calls (PlanFleet, KEDA) hold every slot they are refused at once. GetCatalog and
// PlanFleet stay on the sync API, where waiting for a slot or for the solver blocks only a
// thread of their own.
using PlacementServiceBase = gpufit::v1::PlacementService::WithCallbackMethod_Place<
    gpufit::v1::PlacementService::WithCallbackMethod_Predict<
        gpufit::v1::PlacementService::Service>>;

class PlacementServiceImpl final : public PlacementServiceBase {
 public:
  // Not owned; must outlive the service. `fleet_probe` may be null (no fleet metrics).
  PlacementServiceImpl(const ConfigStore* store, metrics::GrpcProbe* grpc_probe,
                       metrics::DecisionProbe* decision_probe,
                       metrics::FleetProbe* fleet_probe = nullptr);

  // Calls past `admission`'s limits get RESOURCE_EXHAUSTED (not owned; null = no limit).
  // Before serving.
  void set_admission(Admission* admission) { admission_ = admission; }
  // The longest one PlanFleet call may plan (kMaxFleetSolveSeconds by default). Before serving.
  void set_fleet_solve_seconds(double seconds) { fleet_solve_seconds_ = seconds; }
  const FleetLanes& fleet_lanes() const { return fleet_lanes_; }

  grpc::ServerUnaryReactor* Place(grpc::CallbackServerContext* context,
                                  const gpufit::v1::PlaceRequest* request,
                                  gpufit::v1::PlaceResponse* response) override;
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const gpufit::v1::PredictRequest* request,
                                    gpufit::v1::PredictResponse* response) override;
  grpc::Status GetCatalog(grpc::ServerContext* context,
                          const gpufit::v1::GetCatalogRequest* request,
                          gpufit::v1::GetCatalogResponse* response) override;
  // Admitted by size (FleetLanes): a small fleet waits for the small lane until the call's
  // deadline (at most kMaxFleetWaitSeconds), else UNAVAILABLE; a large fleet gets the large
  // lane at once or RESOURCE_EXHAUSTED. Then plans within what is left of the deadline (at most
  // the fleet solve seconds) and stops when the client cancels.
  grpc::Status PlanFleet(grpc::ServerContext* context, const gpufit::v1::PlanFleetRequest* request,
                         gpufit::v1::PlanFleetResponse* response) override;

 private:
  // Runs `fn` against a config snapshot: deadline check, admission (`wait` = queue for a slot;
  // else refuse at once), exceptions turned into INTERNAL, the call counted and timed.
  template <typename Fn>
  grpc::Status Run(metrics::GrpcMethod method, grpc::ServerContextBase* context, bool wait, Fn fn);
  // PlanFleet without the fleet metrics.
  grpc::Status SolveFleet(grpc::ServerContext* context, const gpufit::v1::PlanFleetRequest* request,
                          gpufit::v1::PlanFleetResponse* response);

  const ConfigStore* store_;
  metrics::GrpcProbe* grpc_probe_;
  metrics::DecisionProbe* decision_probe_;
  Admission* admission_ = nullptr;
  metrics::FleetProbe* fleet_probe_;
  double fleet_solve_seconds_ = kMaxFleetSolveSeconds;
  FleetLanes fleet_lanes_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_PLACEMENT_SERVICE_H_

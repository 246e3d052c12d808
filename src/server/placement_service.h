// gpufit.v1.PlacementService over gRPC: Place, Predict, GetCatalog and PlanFleet against the
// config in force. Each call takes one ConfigStore snapshot and holds it to the end (decisions
// point into its catalog), converts with config/proto_conversion.h and decides with the core, so
// the answer is the CLI's for the same input. Placement is pure: no call changes any state
// but the metrics. Thread-safe; gRPC runs calls concurrently.
#ifndef GPUFIT_SERVER_PLACEMENT_SERVICE_H_
#define GPUFIT_SERVER_PLACEMENT_SERVICE_H_

#include <chrono>
#include <mutex>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "core/decision.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "metrics/decision_probe.h"
#include "metrics/fleet_probe.h"
#include "metrics/grpc_probe.h"
#include "server/admission.h"
#include "server/config_store.h"

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

// Upper bound on one PlanFleet call's solver time limit, whatever the request asks: a call
// occupies the (single) solver for up to about twice this (the plan, then the single-type
// comparison fleets). 10 s solves the 1000-workload fleets (bench/fleet_bench.cc).
inline constexpr double kMaxFleetSolveSeconds = 10.0;
// How long a PlanFleet call waits for the solver when its deadline allows longer (or it has
// none): past this the solver is overloaded and UNAVAILABLE tells the client to back off.
inline constexpr double kMaxFleetWaitSeconds = 30.0;

// `max_seconds` bounds the whole call (plan and single-type comparisons); the solver's time
// limit is min(request, kMaxFleetSolveSeconds, its share of max_seconds). Not serialised:
// callers that may run concurrently serialise calls (CBC is not thread-safe; the core also
// locks). Errors: INVALID_ARGUMENT / NOT_FOUND with request field paths
// ("fleet.workloads[1].workload.model: ..."), FAILED_PRECONDITION when no fleet can serve.
absl::StatusOr<gpufit::v1::PlanFleetResponse> PlanFleet(const config::ServiceConfig& config,
                                                        const gpufit::v1::PlanFleetRequest& request,
                                                        double max_seconds = kMaxFleetSolveSeconds);

class PlacementServiceImpl final : public gpufit::v1::PlacementService::Service {
 public:
  // Not owned; must outlive the service. `fleet_probe` may be null (no fleet metrics).
  PlacementServiceImpl(const ConfigStore* store, metrics::GrpcProbe* grpc_probe,
                       metrics::DecisionProbe* decision_probe,
                       metrics::FleetProbe* fleet_probe = nullptr);

  // Calls past `admission`'s limits get RESOURCE_EXHAUSTED (not owned; null = no limit).
  // Before serving.
  void set_admission(Admission* admission) { admission_ = admission; }

  grpc::Status Place(grpc::ServerContext* context, const gpufit::v1::PlaceRequest* request,
                     gpufit::v1::PlaceResponse* response) override;
  grpc::Status Predict(grpc::ServerContext* context, const gpufit::v1::PredictRequest* request,
                       gpufit::v1::PredictResponse* response) override;
  grpc::Status GetCatalog(grpc::ServerContext* context,
                          const gpufit::v1::GetCatalogRequest* request,
                          gpufit::v1::GetCatalogResponse* response) override;
  // One solve at a time: waits for the solver until the call's deadline (at most
  // kMaxFleetWaitSeconds), else UNAVAILABLE; solves within what is left of the deadline.
  grpc::Status PlanFleet(grpc::ServerContext* context, const gpufit::v1::PlanFleetRequest* request,
                         gpufit::v1::PlanFleetResponse* response) override;

 private:
  template <typename Fn>
  grpc::Status Run(metrics::GrpcMethod method, grpc::ServerContext* context, Fn fn);
  // PlanFleet without the fleet metrics.
  grpc::Status SolveFleet(grpc::ServerContext* context, const gpufit::v1::PlanFleetRequest* request,
                          gpufit::v1::PlanFleetResponse* response);

  const ConfigStore* store_;
  metrics::GrpcProbe* grpc_probe_;
  metrics::DecisionProbe* decision_probe_;
  Admission* admission_ = nullptr;
  metrics::FleetProbe* fleet_probe_;
  std::timed_mutex fleet_solver_;  // held for a whole PlanFleet solve
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_PLACEMENT_SERVICE_H_

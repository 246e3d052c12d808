#include "server/placement_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/fleet_conversion.h"
#include "api/proto_conversion.h"
#include "core/fleet_planner.h"
#include "core/fleet_stop.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "core/status_macros.h"
#include "server/status_mapping.h"

namespace gpufit::server {
namespace {

namespace v1 = ::gpufit::v1;

// Field paths in errors are those of the request message ("workload.traffic.concurrency").
constexpr std::string_view kWorkloadField = "workload";

absl::StatusOr<core::ResolvedWorkload> Resolve(const v1::Workload& proto,
                                               const core::Catalog& catalog) {
  GPUFIT_ASSIGN_OR_RETURN(core::Workload workload, api::FromProto(proto, kWorkloadField));
  return core::ResolveWorkload(workload, catalog, kWorkloadField);
}

bool DeadlinePassed(const grpc::ServerContextBase& context) {
  return context.IsCancelled() || context.deadline() <= std::chrono::system_clock::now();
}

// PlanFleet after conversion: the request's time limit capped at `max_seconds` (the whole
// call, core::PlanFleet), its errors in request field paths.
absl::StatusOr<v1::PlanFleetResponse> PlanConvertedFleet(const config::ServiceConfig& config,
                                                         core::FleetRequest fleet,
                                                         double max_seconds,
                                                         const core::FleetStop& stop) {
  const core::Catalog& catalog = *config.catalog;
  fleet.solve.time_limit_seconds = std::min(fleet.solve.time_limit_seconds, max_seconds);
  if (!(fleet.solve.time_limit_seconds > 0)) {
    return absl::DeadlineExceededError("no time left to plan the fleet before the deadline");
  }
  absl::StatusOr<core::FleetPlan> plan = core::PlanFleet(fleet, catalog, stop);
  if (!plan.ok()) return api::FleetStatusToProtoPaths(plan.status(), "fleet");
  v1::PlanFleetResponse response;
  *response.mutable_plan() = api::ToProto(*plan);
  response.set_catalog_version(catalog.version());
  return response;
}

// Counts one PlanFleet answer: the plan's figures when there is one, else why there is none.
void RecordFleetPlan(const grpc::Status& status, const v1::PlanFleetResponse& response,
                     metrics::FleetProbe* probe) {
  if (probe == nullptr) return;
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      probe->RecordFailure(metrics::FleetPlanResult::kInfeasible);
      return;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
      probe->RecordFailure(metrics::FleetPlanResult::kInvalid);
      return;
    default:
      probe->RecordFailure(metrics::FleetPlanResult::kError);
      return;
  }
  const v1::FleetPlan& plan = response.plan();
  metrics::FleetPlanSummary summary;
  summary.cost_usd_per_hour = plan.cost_usd_per_hour();
  summary.best_single_type_cost_usd_per_hour = std::numeric_limits<double>::quiet_NaN();
  for (const v1::SingleTypeFleet& single : plan.single_type_fleets()) {
    if (!single.feasible()) continue;
    if (std::isnan(summary.best_single_type_cost_usd_per_hour) ||
        single.cost_usd_per_hour() < summary.best_single_type_cost_usd_per_hour) {
      summary.best_single_type_cost_usd_per_hour = single.cost_usd_per_hour();
    }
  }
  summary.gap_ratio = plan.gap();
  summary.solve_seconds = static_cast<double>(plan.solve_time().seconds()) +
                          static_cast<double>(plan.solve_time().nanos()) * 1e-9;
  for (const v1::FleetGpuPlan& gpu : plan.gpus()) {
    summary.gpus.emplace_back(gpu.accelerator(), gpu.count());
  }
  probe->RecordPlan(plan.optimal(), summary);
}

}  // namespace

absl::StatusOr<v1::PlaceResponse> Place(const config::ServiceConfig& config,
                                        const v1::PlaceRequest& request, core::Decision* decision) {
  const core::Catalog& catalog = *config.catalog;
  int max_options = -1;  // all
  switch (request.view()) {
    case v1::DECISION_VIEW_UNSPECIFIED:
    case v1::DECISION_VIEW_FULL:
      if (request.max_options() < 0) {
        return absl::InvalidArgumentError("max_options: must be >= 0 (0 = all options)");
      }
      if (request.max_options() > 0) max_options = request.max_options();
      break;
    case v1::DECISION_VIEW_RECOMMENDATION:
      if (request.max_options() != 0) {
        return absl::InvalidArgumentError(
            "max_options: only with view DECISION_VIEW_FULL (the recommendation view sends no "
            "options)");
      }
      max_options = 0;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("view: unknown value ", static_cast<int>(request.view())));
  }
  GPUFIT_ASSIGN_OR_RETURN(const core::ResolvedWorkload workload,
                          Resolve(request.workload(), catalog));
  core::Decision result = core::Place(workload, catalog);
  v1::PlaceResponse response;
  *response.mutable_decision() =
      api::ToProto(result, workload.objective, catalog.version(), max_options);
  if (decision != nullptr) *decision = std::move(result);
  return response;
}

absl::StatusOr<v1::PredictResponse> Predict(const config::ServiceConfig& config,
                                            const v1::PredictRequest& request) {
  const core::Catalog& catalog = *config.catalog;
  // Checked before the workload, as `gpufit predict` does, so that a wrong id is reported
  // as such even when the workload has problems too.
  if (request.accelerator().empty()) {
    return absl::InvalidArgumentError(
        "accelerator: required (an accelerator id from GetCatalog, e.g. l4 or "
        "a100-80gb/3g.40gb)");
  }
  if (catalog.FindAccelerator(request.accelerator()) == nullptr) {
    return absl::NotFoundError(absl::StrCat("accelerator: unknown accelerator '",
                                            request.accelerator(), "' (see GetCatalog)"));
  }
  if (request.gpus() < 0) {
    return absl::InvalidArgumentError("gpus: must be >= 0 (0 = the fewest GPUs that fit)");
  }
  GPUFIT_ASSIGN_OR_RETURN(const core::ResolvedWorkload workload,
                          Resolve(request.workload(), catalog));
  GPUFIT_ASSIGN_OR_RETURN(
      const core::Option option,
      core::PredictOption(workload, catalog, request.accelerator(), request.gpus()));
  v1::PredictResponse response;
  *response.mutable_option() = api::ToProto(option);
  response.set_catalog_version(catalog.version());
  return response;
}

v1::GetCatalogResponse GetCatalog(const config::ServiceConfig& config) {
  v1::GetCatalogResponse response;
  *response.mutable_catalog() = api::ToProto(*config.catalog);
  return response;
}

absl::StatusOr<v1::PlanFleetResponse> PlanFleet(const config::ServiceConfig& config,
                                                const v1::PlanFleetRequest& request,
                                                double max_seconds, const core::FleetStop& stop) {
  GPUFIT_ASSIGN_OR_RETURN(core::FleetRequest fleet, api::FromProto(request.fleet(), "fleet"));
  return PlanConvertedFleet(config, std::move(fleet), max_seconds, stop);
}

PlacementServiceImpl::PlacementServiceImpl(const ConfigStore* store, metrics::GrpcProbe* grpc_probe,
                                           metrics::DecisionProbe* decision_probe,
                                           metrics::FleetProbe* fleet_probe)
    : store_(store),
      grpc_probe_(grpc_probe),
      decision_probe_(decision_probe),
      fleet_probe_(fleet_probe) {}

template <typename Fn>
grpc::Status PlacementServiceImpl::Run(metrics::GrpcMethod method, grpc::ServerContextBase* context,
                                       bool wait, Fn fn) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status;
  if (DeadlinePassed(*context)) {
    // The client has given up: computing the answer would only cost CPU.
    status = absl::DeadlineExceededError("deadline exceeded before the call was handled");
  } else if (absl::StatusOr<Admission::Permit> permit =
                 admission_ == nullptr ? Admission::Unlimited()
                 : wait                ? admission_->Acquire(context->deadline(),
                                                             [context] { return context->IsCancelled(); })
                                       : admission_->AcquireNow();
             !permit.ok()) {
    status = permit.status();
  } else {
    try {
      const std::shared_ptr<const config::ServiceConfig> snapshot = store_->Snapshot();
      status = fn(*snapshot);
    } catch (const std::exception& e) {
      // Nothing a client sends may take the server down; a throw here is a gpufit bug.
      status = absl::InternalError(absl::StrCat("internal error: ", e.what()));
    } catch (...) {
      status = absl::InternalError("internal error");
    }
  }
  grpc::Status result = ToGrpcStatus(status);
  grpc_probe_->Record(
      method, static_cast<int>(result.error_code()),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return result;
}

grpc::ServerUnaryReactor* PlacementServiceImpl::Place(grpc::CallbackServerContext* context,
                                                      const v1::PlaceRequest* request,
                                                      v1::PlaceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Run(metrics::GrpcMethod::kPlace, context, /*wait=*/false,
                      [&](const config::ServiceConfig& config) {
                        core::Decision decision;
                        absl::StatusOr<v1::PlaceResponse> result =
                            server::Place(config, *request, &decision);
                        if (!result.ok()) return result.status();
                        decision_probe_->RecordPlace(*config.catalog, decision);
                        *response = *std::move(result);
                        return absl::OkStatus();
                      }));
  return reactor;
}

grpc::ServerUnaryReactor* PlacementServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                        const v1::PredictRequest* request,
                                                        v1::PredictResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Run(metrics::GrpcMethod::kPredict, context, /*wait=*/false,
                      [&](const config::ServiceConfig& config) {
                        absl::StatusOr<v1::PredictResponse> result =
                            server::Predict(config, *request);
                        if (!result.ok()) return result.status();
                        *response = *std::move(result);
                        return absl::OkStatus();
                      }));
  return reactor;
}

grpc::Status PlacementServiceImpl::GetCatalog(grpc::ServerContext* context,
                                              const v1::GetCatalogRequest* request,
                                              v1::GetCatalogResponse* response) {
  return Run(metrics::GrpcMethod::kGetCatalog, context, /*wait=*/true,
             [&](const config::ServiceConfig& config) {
               *response = server::GetCatalog(config);
               return absl::OkStatus();
             });
}

grpc::Status PlacementServiceImpl::PlanFleet(grpc::ServerContext* context,
                                             const v1::PlanFleetRequest* request,
                                             v1::PlanFleetResponse* response) {
  const grpc::Status status = SolveFleet(context, request, response);
  RecordFleetPlan(status, *response, fleet_probe_);
  return status;
}

grpc::Status PlacementServiceImpl::SolveFleet(grpc::ServerContext* context,
                                              const v1::PlanFleetRequest* request,
                                              v1::PlanFleetResponse* response) {
  return Run(
      metrics::GrpcMethod::kPlanFleet, context, /*wait=*/true,
      [&](const config::ServiceConfig& config) {
        // Converted first: the size checks (core/limits.h) refuse an oversized fleet before it
        // waits for anything, and the lane depends on the size.
        absl::StatusOr<core::FleetRequest> fleet = api::FromProto(request->fleet(), "fleet");
        if (!fleet.ok()) return fleet.status();
        const int64_t cells = core::MeasureFleet(*fleet, *config.catalog).cells;
        absl::StatusOr<FleetLanes::Ticket> ticket =
            fleet_lanes_.Enter(FleetLanes::LaneFor(cells), cells, context->deadline(),
                               [context] { return context->IsCancelled(); });
        if (!ticket.ok()) return ticket.status();
        // Seconds until the call's deadline; a call without one (gRPC's infinite future) gets the
        // cap. Computed in double seconds: the infinite deadline overflows duration arithmetic.
        const double left =
            std::chrono::duration<double>(context->deadline() - std::chrono::system_clock::now())
                .count();
        // Leave a tenth of what is left (at least 50 ms) to convert and send the answer.
        const double budget = std::min(fleet_solve_seconds_, left - std::max(0.05, 0.1 * left));
        if (budget <= 0) {
          return absl::DeadlineExceededError(
              "deadline exceeded while waiting for the fleet solver");
        }
        // The core stops at the budget's end or as soon as the client cancels (or its deadline
        // passes: gRPC cancels the call then), and returns the best plan found by then.
        const core::FleetStop stop(core::FleetStop::Clock::now() +
                                       std::chrono::duration_cast<core::FleetStop::Clock::duration>(
                                           std::chrono::duration<double>(budget)),
                                   [context] { return context->IsCancelled(); });
        absl::StatusOr<v1::PlanFleetResponse> result =
            PlanConvertedFleet(config, *std::move(fleet), budget, stop);
        if (!result.ok()) return result.status();
        *response = *std::move(result);
        return absl::OkStatus();
      });
}

}  // namespace gpufit::server

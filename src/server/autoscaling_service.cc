#include "server/autoscaling_service.h"

#include <cmath>
#include <exception>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/status_macros.h"
#include "server/keda_metadata.h"
#include "server/status_mapping.h"

namespace gpufit::server {
namespace {

int ReplicasFor(double load, double target) {
  const double raw = std::ceil(load / target);
  if (raw >= static_cast<double>(std::numeric_limits<int>::max())) {
    return std::numeric_limits<int>::max();
  }
  return static_cast<int>(std::max(0.0, raw));
}

}  // namespace

absl::StatusOr<v1::RecommendResponse> Recommend(const config::ServiceConfig& config,
                                                const v1::RecommendRequest& request,
                                                const LoadQueryFn& query,
                                                const QueryCancellation& cancel,
                                                ScaleStabilizer* stabilizer,
                                                metrics::KedaProbe* probe) {
  std::vector<const core::Workload*> selected;
  if (request.workloads().empty()) {
    for (const core::Workload& w : config.workloads) {
      if (config.autoscaling.count(w.name) != 0) selected.push_back(&w);
    }
  } else {
    for (int i = 0; i < request.workloads_size(); ++i) {
      const std::string& name = request.workloads(i);
      const core::Workload* found = nullptr;
      for (const core::Workload& w : config.workloads) {
        if (w.name == name) found = &w;
      }
      if (found == nullptr) {
        return absl::NotFoundError(
            absl::StrCat("workloads[", i, "]: no workload '", name, "' in gpufitd's config"));
      }
      if (config.autoscaling.count(name) == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("workloads[", i, "]: workload '", name,
                         "' has no autoscaling: block (prometheus_url, query, accelerator) in "
                         "gpufitd's config"));
      }
      selected.push_back(found);
    }
  }

  v1::RecommendResponse response;
  response.set_catalog_version(config.version);
  for (const core::Workload* w : selected) {
    const config::WorkloadAutoscaling& a = config.autoscaling.at(w->name);
    absl::StatusOr<double> target = PerReplicaTarget(*w, a.accelerator, a.gpus, config);
    if (!target.ok()) {
      return absl::Status(
          target.status().code(),
          absl::StrCat(w->name, ".autoscaling.", std::string(target.status().message())));
    }
    const std::string field = absl::StrCat(w->name, ".autoscaling.");
    absl::StatusOr<double> load = QueryLoad(query, a.prometheus_url, a.query, cancel,
                                            field + "prometheus_url", field + "query", probe);
    if (!load.ok()) return load.status();
    const double live = *load;
    const int raw = ReplicasFor(live, *target);
    const int desired =
        stabilizer->Stabilize(w->name, raw, absl::Seconds(a.scale_down_stabilization_seconds));
    v1::ReplicaRecommendation* r = response.add_recommendations();
    r->set_workload(w->name);
    r->set_accelerator(a.accelerator);
    r->set_gpus_per_replica(a.gpus);
    r->set_load(live);
    r->set_target_per_replica(*target);
    r->set_raw_replicas(raw);
    r->set_desired_replicas(desired);
    const double window = a.scale_down_stabilization_seconds;
    const auto seconds = static_cast<int64_t>(std::floor(window));
    r->mutable_scale_down_stabilization_window()->set_seconds(seconds);
    r->mutable_scale_down_stabilization_window()->set_nanos(
        static_cast<int32_t>((window - static_cast<double>(seconds)) * 1e9));
    if (probe != nullptr) probe->SetDesiredReplicas(w->name, desired);
  }
  // Workloads a reload removed drop out of the window and the metric.
  std::set<std::string> configured;
  for (const auto& [name, unused] : config.autoscaling) configured.insert(name);
  stabilizer->Retain(configured);
  if (probe != nullptr) probe->RetainWorkloads(configured);
  return response;
}

AutoscalingServiceImpl::AutoscalingServiceImpl(const ConfigStore* store, metrics::KedaProbe* probe,
                                               LoadQueryFn query, ScaleStabilizer::Clock clock)
    : store_(store), probe_(probe), query_(std::move(query)), stabilizer_(std::move(clock)) {
  if (!query_) {
    own_client_ = std::make_unique<PrometheusClient>();
    query_ = QueryFnOf(own_client_.get());
  }
}

AutoscalingServiceImpl::~AutoscalingServiceImpl() = default;

grpc::Status AutoscalingServiceImpl::Recommend(grpc::ServerContext* context,
                                               const v1::RecommendRequest* request,
                                               v1::RecommendResponse* response) {
  absl::Status status;
  try {
    absl::StatusOr<Admission::Permit> permit = AdmitCall(admission_, *context);
    const std::shared_ptr<const config::ServiceConfig> config = store_->Snapshot();
    absl::StatusOr<v1::RecommendResponse> result =
        permit.ok() ? server::Recommend(*config, *request, query_, CancellationOf(*context),
                                        &stabilizer_, probe_)
                    : absl::StatusOr<v1::RecommendResponse>(permit.status());
    if (result.ok()) {
      *response = *std::move(result);
    } else {
      status = result.status();
    }
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("internal error: ", e.what()));
  } catch (...) {
    status = absl::InternalError("internal error");
  }
  grpc::Status result = ToGrpcStatus(status);
  probe_->RecordRequest(metrics::KedaMethod::kRecommend, static_cast<int>(result.error_code()));
  return result;
}

}  // namespace gpufit::server

// gpufit.v1.AutoscalingService (proto/gpufit/v1/autoscaling.proto): Recommend gives the desired
// replicas of each configured workload with an `autoscaling:` block (config/service_config.h)
// from its live load:
//   raw     = ceil(load / target), target = the per-replica concurrency the model predicts
//             for the block's accelerator and GPUs at the workload's SLO (as GetMetricSpec);
//   desired = the largest raw within the block's scale-down stabilisation window (the HPA's
//             rule, server/scale_stabilizer.h); at least 1 while there is any load, else 0.
// Each result also sets gpufit_workload_desired_replicas{workload}.
//
// The window is kept in this process: replicas of gpufitd behind one Service each keep their
// own, which only makes a scale-down wait until the replica asked has seen the window too.
// Thread-safe.
#ifndef GPUFIT_SERVER_AUTOSCALING_SERVICE_H_
#define GPUFIT_SERVER_AUTOSCALING_SERVICE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "gpufit/v1/autoscaling.grpc.pb.h"
#include "metrics/keda_probe.h"
#include "server/admission.h"
#include "server/config_store.h"
#include "server/prometheus_client.h"
#include "server/scale_stabilizer.h"

namespace gpufit::server {

// Transport-free Recommend. Errors: NOT_FOUND "workloads[i]: no workload 'x' in gpufitd's
// config"; FAILED_PRECONDITION for a workload without an `autoscaling:` block or whose
// accelerator cannot serve it; the load query's UNAVAILABLE / INVALID_ARGUMENT, naming the
// workload ("chat.autoscaling.query: ..."). Each query ends when `cancel` says (the call's
// deadline, the client cancelling). `probe` is optional.
absl::StatusOr<gpufit::v1::RecommendResponse> Recommend(const config::ServiceConfig& config,
                                                        const gpufit::v1::RecommendRequest& request,
                                                        const LoadQueryFn& query,
                                                        const QueryCancellation& cancel,
                                                        ScaleStabilizer* stabilizer,
                                                        metrics::KedaProbe* probe);

class AutoscalingServiceImpl final : public gpufit::v1::AutoscalingService::Service {
 public:
  // `store` and `probe` are not owned and must outlive the service. `query` defaults to a
  // PrometheusClient of the service's own (PrometheusClientOptions' defaults); `clock` to
  // absl::Now.
  AutoscalingServiceImpl(const ConfigStore* store, metrics::KedaProbe* probe,
                         LoadQueryFn query = nullptr, ScaleStabilizer::Clock clock = nullptr);
  ~AutoscalingServiceImpl() override;

  // Calls past `admission`'s limits get RESOURCE_EXHAUSTED (not owned; null = no limit).
  // Before serving.
  void set_admission(Admission* admission) { admission_ = admission; }

  grpc::Status Recommend(grpc::ServerContext* context, const gpufit::v1::RecommendRequest* request,
                         gpufit::v1::RecommendResponse* response) override;

 private:
  const ConfigStore* store_;
  metrics::KedaProbe* probe_;
  std::unique_ptr<PrometheusClient> own_client_;  // when no `query` was given
  LoadQueryFn query_;
  Admission* admission_ = nullptr;
  ScaleStabilizer stabilizer_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_AUTOSCALING_SERVICE_H_

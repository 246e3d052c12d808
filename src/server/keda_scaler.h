// KEDA's external scaler protocol (proto/externalscaler/externalscaler.proto) on gpufitd's
// gRPC port: a ScaledObject's `external` trigger names gpufitd, and KEDA's HPA scales the
// Deployment to ceil(load / target) replicas, where
//   target (GetMetricSpec) = the per-replica concurrency the model predicts for the trigger's
//                            accelerator and GPUs at the workload's SLO, and
//   load   (GetMetrics)    = the live requests in flight, a Prometheus instant query.
// So L4 and A100 Deployments of one model get different targets from the same load query.
// IsActive is load > activationThreshold (KEDA scales 0 <-> 1 on it); StreamIsActive pushes
// the state when it changes, polling Prometheus every `poll_interval`.
//
// Each call reads the trigger metadata (server/keda_metadata.h) against one config snapshot;
// nothing is cached between calls, so a config reload applies to the next call (and the next
// poll of a stream). Errors: INVALID_ARGUMENT "scalerMetadata.KEY: ..." for the trigger,
// including a serverAddress the config's prometheus.servers does not list (nothing is
// contacted then); UNAVAILABLE / INVALID_ARGUMENT / DEADLINE_EXCEEDED naming serverAddress or
// query when the load cannot be read (also counted in gpufit_keda_query_errors_total{reason}).
// A query never outlives its call. Thread-safe.
#ifndef GPUFIT_SERVER_KEDA_SCALER_H_
#define GPUFIT_SERVER_KEDA_SCALER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "externalscaler/externalscaler.grpc.pb.h"
#include "metrics/keda_probe.h"
#include "server/admission.h"
#include "server/config_store.h"
#include "server/keda_metadata.h"
#include "server/prometheus_client.h"

namespace gpufit::server {

struct KedaScalerOptions {
  // StreamIsActive's Prometheus poll. KEDA's own pollingInterval defaults to 30 s; a few
  // seconds here makes the 0 -> 1 scale-up prompt without loading Prometheus.
  std::chrono::milliseconds poll_interval{5000};
  // The whole of one Prometheus query (without a `query` function given); a call's own
  // deadline cuts it shorter. Below KEDA's 3 s default gRPC deadline would be ideal, but a
  // loaded Prometheus often needs longer.
  double query_timeout_seconds = 5;
};

// The live load for `target`: its query's value (negative values read as 0), or the
// workload's configured concurrency when it has none. The query ends when `cancel` says.
// Errors name the metadata key and are counted in `probe` (optional).
absl::StatusOr<double> ReadLoad(const ScalerTarget& target, const LoadQueryFn& query,
                                const QueryCancellation& cancel, metrics::KedaProbe* probe);

class KedaScaler final : public externalscaler::ExternalScaler::Service {
 public:
  // `store` and `probe` are not owned and must outlive the service. `query` defaults to a
  // PrometheusClient of the scaler's own with options.query_timeout_seconds. Each query ends
  // with its call: at the call's deadline, when the client cancels it or a stream ends.
  KedaScaler(const ConfigStore* store, metrics::KedaProbe* probe, KedaScalerOptions options,
             LoadQueryFn query = nullptr);
  ~KedaScaler() override;

  // Ends every StreamIsActive (they return OK), stopping a stream's query in flight, and
  // makes new ones end at once, so that gRPC's graceful shutdown is not held up by streams
  // that would run forever. Call before grpc::Server::Shutdown. Idempotent.
  void Shutdown();

  // Unary calls past `calls`' limits and streams past `streams`' get RESOURCE_EXHAUSTED
  // (not owned; null = no limit). Before serving.
  void set_admission(Admission* calls, Admission* streams) {
    admission_ = calls;
    stream_admission_ = streams;
  }

  grpc::Status IsActive(grpc::ServerContext* context,
                        const externalscaler::ScaledObjectRef* request,
                        externalscaler::IsActiveResponse* response) override;
  grpc::Status StreamIsActive(
      grpc::ServerContext* context, const externalscaler::ScaledObjectRef* request,
      grpc::ServerWriter<externalscaler::IsActiveResponse>* writer) override;
  grpc::Status GetMetricSpec(grpc::ServerContext* context,
                             const externalscaler::ScaledObjectRef* request,
                             externalscaler::GetMetricSpecResponse* response) override;
  grpc::Status GetMetrics(grpc::ServerContext* context,
                          const externalscaler::GetMetricsRequest* request,
                          externalscaler::GetMetricsResponse* response) override;

 private:
  template <typename Fn>
  grpc::Status Run(metrics::KedaMethod method, grpc::ServerContext* context, Fn fn);
  absl::StatusOr<ScalerTarget> Target(const externalscaler::ScaledObjectRef& ref,
                                      std::shared_ptr<const config::ServiceConfig>* config) const;
  absl::StatusOr<bool> Active(const externalscaler::ScaledObjectRef& ref,
                              const QueryCancellation& cancel);
  // Waits up to the poll interval; false if the stream should end (shutdown, cancelled).
  bool WaitForNextPoll(grpc::ServerContext* context);

  const ConfigStore* store_;
  metrics::KedaProbe* probe_;
  const KedaScalerOptions options_;
  std::unique_ptr<PrometheusClient> own_client_;  // when no `query` was given
  LoadQueryFn query_;
  Admission* admission_ = nullptr;
  Admission* stream_admission_ = nullptr;
  // The config the trigger series were last pruned for (compared, never dereferenced).
  mutable std::atomic<const config::ServiceConfig*> last_config_{nullptr};

  std::mutex mu_;
  std::condition_variable shutdown_cv_;
  bool shutting_down_ = false;  // guarded by mu_
  // shutting_down_ for a stream's query to poll without the lock.
  std::atomic<bool> stopping_streams_{false};
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_KEDA_SCALER_H_

#include "server/keda_scaler.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "server/status_mapping.h"

namespace gpufit::server {
namespace {

// How often a waiting stream checks whether its client has gone (grpc::ServerContext has no
// sync cancellation callback in gRPC 1.51's sync API).
constexpr std::chrono::milliseconds kCancelCheck{200};

std::map<std::string, std::string> Metadata(const externalscaler::ScaledObjectRef& ref) {
  return {ref.scalermetadata().begin(), ref.scalermetadata().end()};
}

int64_t CeilToInt64(double value) {
  const double up = std::ceil(value);
  if (up >= static_cast<double>(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  return static_cast<int64_t>(std::max(0.0, up));
}

}  // namespace

absl::StatusOr<double> ReadLoad(const ScalerTarget& target, const LoadQueryFn& query,
                                const QueryCancellation& cancel, metrics::KedaProbe* probe) {
  // Per-trigger series only for configured workloads: an inline trigger's name is whatever
  // the client sent.
  const bool labelled = probe != nullptr && !target.workload_name.empty();
  if (target.server_address.empty()) {
    if (labelled) {
      probe->SetTriggerLoad(target.workload_name, target.accelerator, target.configured_load);
    }
    return target.configured_load;
  }
  absl::StatusOr<double> live =
      QueryLoad(query, target.server_address, target.query, cancel, "scalerMetadata.serverAddress",
                "scalerMetadata.query", probe);
  if (!live.ok()) return live.status();
  if (labelled) probe->SetTriggerLoad(target.workload_name, target.accelerator, *live);
  return *live;
}

KedaScaler::KedaScaler(const ConfigStore* store, metrics::KedaProbe* probe,
                       KedaScalerOptions options, LoadQueryFn query)
    : store_(store), probe_(probe), options_(options), query_(std::move(query)) {
  if (!query_) {
    PrometheusClientOptions client;
    client.timeout_seconds = options_.query_timeout_seconds;
    own_client_ = std::make_unique<PrometheusClient>(client);
    query_ = QueryFnOf(own_client_.get());
  }
}

KedaScaler::~KedaScaler() = default;

void KedaScaler::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  stopping_streams_ = true;
  shutdown_cv_.notify_all();
}

template <typename Fn>
grpc::Status KedaScaler::Run(metrics::KedaMethod method, grpc::ServerContext* context, Fn fn) {
  absl::Status status;
  Admission* admission =
      method == metrics::KedaMethod::kStreamIsActive ? stream_admission_ : admission_;
  try {
    absl::StatusOr<Admission::Permit> permit = AdmitCall(admission, *context);
    status = permit.ok() ? fn() : permit.status();
  } catch (const std::exception& e) {
    // Nothing a trigger or a Prometheus answer holds may take the server down.
    status = absl::InternalError(absl::StrCat("internal error: ", e.what()));
  } catch (...) {
    status = absl::InternalError("internal error");
  }
  grpc::Status result = ToGrpcStatus(status);
  probe_->RecordRequest(method, static_cast<int>(result.error_code()));
  return result;
}

absl::StatusOr<ScalerTarget> KedaScaler::Target(
    const externalscaler::ScaledObjectRef& ref,
    std::shared_ptr<const config::ServiceConfig>* config) const {
  *config = store_->Snapshot();
  // A reload may have removed workloads: drop their trigger series (once per config).
  if (last_config_.exchange(config->get()) != config->get()) {
    std::set<std::string> names;
    for (const core::Workload& w : (*config)->workloads) names.insert(w.name);
    probe_->RetainTriggerWorkloads(names);
  }
  return ParseScalerMetadata(Metadata(ref), **config);
}

absl::StatusOr<bool> KedaScaler::Active(const externalscaler::ScaledObjectRef& ref,
                                        const QueryCancellation& cancel) {
  std::shared_ptr<const config::ServiceConfig> config;
  GPUFIT_ASSIGN_OR_RETURN(const ScalerTarget target, Target(ref, &config));
  GPUFIT_ASSIGN_OR_RETURN(const double load, ReadLoad(target, query_, cancel, probe_));
  const bool active = load > target.activation_threshold;
  if (!target.workload_name.empty()) {
    probe_->SetTriggerActive(target.workload_name, target.accelerator, active);
  }
  return active;
}

grpc::Status KedaScaler::IsActive(grpc::ServerContext* context,
                                  const externalscaler::ScaledObjectRef* request,
                                  externalscaler::IsActiveResponse* response) {
  return Run(metrics::KedaMethod::kIsActive, context, [&]() -> absl::Status {
    GPUFIT_ASSIGN_OR_RETURN(const bool active, Active(*request, CancellationOf(*context)));
    response->set_result(active);
    return absl::OkStatus();
  });
}

bool KedaScaler::WaitForNextPoll(grpc::ServerContext* context) {
  const auto until = std::chrono::steady_clock::now() + options_.poll_interval;
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutting_down_) {
    if (context->IsCancelled()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    shutdown_cv_.wait_for(lock,
                          std::min<std::chrono::steady_clock::duration>(until - now, kCancelCheck));
  }
  return false;
}

grpc::Status KedaScaler::StreamIsActive(
    grpc::ServerContext* context, const externalscaler::ScaledObjectRef* request,
    grpc::ServerWriter<externalscaler::IsActiveResponse>* writer) {
  return Run(metrics::KedaMethod::kStreamIsActive, context, [&]() -> absl::Status {
    // A poll's query ends with the stream: the client cancelling it, or Shutdown().
    QueryCancellation cancel = CancellationOf(*context);
    cancel.cancelled = [context, this] {
      return stopping_streams_.load() || context->IsCancelled();
    };
    bool sent = false;
    bool last = false;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (shutting_down_) return absl::OkStatus();
      }
      if (context->IsCancelled()) return absl::CancelledError("the client cancelled the stream");
      // Errors end the stream with the reason; KEDA opens a new one (and retries).
      absl::StatusOr<bool> polled = Active(*request, cancel);
      if (!polled.ok() && polled.status().code() == absl::StatusCode::kCancelled) {
        // The stream ended during the query: end it as the loop would have.
        if (context->IsCancelled()) return polled.status();
        return absl::OkStatus();
      }
      GPUFIT_ASSIGN_OR_RETURN(const bool active, std::move(polled));
      if (!sent || active != last) {
        externalscaler::IsActiveResponse response;
        response.set_result(active);
        if (!writer->Write(response)) return absl::CancelledError("the client went away");
        sent = true;
        last = active;
      }
      if (!WaitForNextPoll(context)) {
        return context->IsCancelled() ? absl::CancelledError("the client cancelled the stream")
                                      : absl::OkStatus();
      }
    }
  });
}

grpc::Status KedaScaler::GetMetricSpec(grpc::ServerContext* context,
                                       const externalscaler::ScaledObjectRef* request,
                                       externalscaler::GetMetricSpecResponse* response) {
  return Run(metrics::KedaMethod::kGetMetricSpec, context, [&]() -> absl::Status {
    std::shared_ptr<const config::ServiceConfig> config;
    GPUFIT_ASSIGN_OR_RETURN(const ScalerTarget target, Target(*request, &config));
    absl::StatusOr<double> per_replica =
        PerReplicaTarget(target.workload, target.accelerator, target.gpus, *config);
    if (!per_replica.ok()) {
      return absl::Status(
          per_replica.status().code(),
          absl::StrCat("scalerMetadata.", std::string(per_replica.status().message())));
    }
    externalscaler::MetricSpec* spec = response->add_metricspecs();
    spec->set_metricname(target.metric_name);
    // The HPA's target per replica: whole requests for the integer field (a replica cannot
    // take part of one), at least 1 so that the HPA never divides by zero.
    spec->set_targetsize(std::max<int64_t>(1, static_cast<int64_t>(std::floor(*per_replica))));
    spec->set_targetsizefloat(std::max(1.0, *per_replica));
    if (!target.workload_name.empty()) {
      probe_->SetTriggerTarget(target.workload_name, target.accelerator, spec->targetsizefloat());
    }
    return absl::OkStatus();
  });
}

grpc::Status KedaScaler::GetMetrics(grpc::ServerContext* context,
                                    const externalscaler::GetMetricsRequest* request,
                                    externalscaler::GetMetricsResponse* response) {
  return Run(metrics::KedaMethod::kGetMetrics, context, [&]() -> absl::Status {
    std::shared_ptr<const config::ServiceConfig> config;
    GPUFIT_ASSIGN_OR_RETURN(const ScalerTarget target, Target(request->scaledobjectref(), &config));
    GPUFIT_ASSIGN_OR_RETURN(const double load,
                            ReadLoad(target, query_, CancellationOf(*context), probe_));
    externalscaler::MetricValue* value = response->add_metricvalues();
    // KEDA asks by the name it registered ("s0-gpufit-...") and matches the answer on it.
    value->set_metricname(request->metricname().empty() ? target.metric_name
                                                        : request->metricname());
    // Whole requests, rounded up: 0.2 in flight still needs a replica.
    value->set_metricvalue(CeilToInt64(load));
    value->set_metricvaluefloat(load);
    return absl::OkStatus();
  });
}

}  // namespace gpufit::server

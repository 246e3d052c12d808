#include "metrics/keda_probe.h"

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {

std::string_view KedaMethodName(KedaMethod method) {
  switch (method) {
    case KedaMethod::kIsActive:
      return "IsActive";
    case KedaMethod::kStreamIsActive:
      return "StreamIsActive";
    case KedaMethod::kGetMetricSpec:
      return "GetMetricSpec";
    case KedaMethod::kGetMetrics:
      return "GetMetrics";
    case KedaMethod::kRecommend:
      return "Recommend";
  }
  return "unknown";
}

std::string_view QueryErrorName(QueryError reason) {
  switch (reason) {
    case QueryError::kUnreachable:
      return "unreachable";
    case QueryError::kHttpStatus:
      return "http_status";
    case QueryError::kBadQuery:
      return "bad_query";
    case QueryError::kBadResponse:
      return "bad_response";
    case QueryError::kBadResult:
      return "bad_result";
    case QueryError::kTimeout:
      return "timeout";
    case QueryError::kTooLarge:
      return "too_large";
    case QueryError::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

KedaProbe::KedaProbe(prometheus::Registry& registry) {
  auto& requests =
      prometheus::BuildCounter()
          .Name("gpufit_keda_requests_total")
          .Help(
              "KEDA external-scaler and AutoscalingService calls handled by gpufitd, by method "
              "and gRPC status code (a StreamIsActive stream counts once, when it ends).")
          .Register(registry);
  for (int m = 0; m < kKedaMethodCount; ++m) {
    const std::string method(KedaMethodName(static_cast<KedaMethod>(m)));
    for (int c = 0; c < kGrpcCodeCount; ++c) {
      requests_[m][c] = &requests.Add({{"method", method}, {"code", std::string(GrpcCodeName(c))}});
    }
  }
  auto& errors = prometheus::BuildCounter()
                     .Name("gpufit_keda_query_errors_total")
                     .Help("Live-load queries to Prometheus that failed, by reason.")
                     .Register(registry);
  for (int r = 0; r < kQueryErrorCount; ++r) {
    query_errors_[r] =
        &errors.Add({{"reason", std::string(QueryErrorName(static_cast<QueryError>(r)))}});
  }
  // A healthy Prometheus answers in milliseconds; the client gives up after its timeout (5 s).
  query_seconds_ =
      &prometheus::BuildHistogram()
           .Name("gpufit_keda_query_duration_seconds")
           .Help(
               "Live-load queries to Prometheus (scaler and Recommend), by duration, "
               "failed ones included.")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  trigger_[0] = &prometheus::BuildGauge()
                     .Name("gpufit_keda_trigger_load")
                     .Help(
                         "The live load (requests in flight) the external scaler last read "
                         "for triggers on a configured workload and accelerator.")
                     .Register(registry);
  trigger_[1] = &prometheus::BuildGauge()
                     .Name("gpufit_keda_trigger_target_per_replica")
                     .Help(
                         "The per-replica target GetMetricSpec last returned for triggers on a "
                         "configured workload and accelerator (the HPA scales to load / this).")
                     .Register(registry);
  trigger_[2] = &prometheus::BuildGauge()
                     .Name("gpufit_keda_trigger_active")
                     .Help(
                         "1 if IsActive / StreamIsActive last found the load above the "
                         "trigger's activationThreshold, else 0.")
                     .Register(registry);
  desired_ = &prometheus::BuildGauge()
                  .Name("gpufit_workload_desired_replicas")
                  .Help(
                      "Replicas a configured workload needs for its live load, after the "
                      "scale-down stabilisation window (the last Recommend call).")
                  .Register(registry);
}

void KedaProbe::RecordRequest(KedaMethod method, int code) {
  if (code < 0 || code >= kGrpcCodeCount) code = 2;  // grpc::StatusCode::UNKNOWN
  requests_[static_cast<int>(method)][code]->Increment();
}

void KedaProbe::RecordQueryError(QueryError reason) {
  query_errors_[static_cast<int>(reason)]->Increment();
}

void KedaProbe::ObserveQuery(double seconds) { query_seconds_->Observe(seconds); }

void KedaProbe::SetTrigger(int kind, const std::string& workload, const std::string& accelerator,
                           double value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = trigger_children_.try_emplace({workload, accelerator});
  if (inserted) it->second.fill(nullptr);
  prometheus::Gauge*& gauge = it->second[kind];
  if (gauge == nullptr) {
    gauge = &trigger_[kind]->Add({{"workload", workload}, {"accelerator", accelerator}});
  }
  gauge->Set(value);
}

void KedaProbe::SetTriggerLoad(const std::string& workload, const std::string& accelerator,
                               double load) {
  SetTrigger(0, workload, accelerator, load);
}

void KedaProbe::SetTriggerTarget(const std::string& workload, const std::string& accelerator,
                                 double target_per_replica) {
  SetTrigger(1, workload, accelerator, target_per_replica);
}

void KedaProbe::SetTriggerActive(const std::string& workload, const std::string& accelerator,
                                 bool active) {
  SetTrigger(2, workload, accelerator, active ? 1 : 0);
}

void KedaProbe::RetainTriggerWorkloads(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = trigger_children_.begin(); it != trigger_children_.end();) {
    if (keep.count(it->first.first) == 0) {
      for (int kind = 0; kind < 3; ++kind) {
        if (it->second[kind] != nullptr) trigger_[kind]->Remove(it->second[kind]);
      }
      it = trigger_children_.erase(it);
    } else {
      ++it;
    }
  }
}

void KedaProbe::SetDesiredReplicas(const std::string& workload, double replicas) {
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Gauge*& gauge = desired_children_[workload];
  if (gauge == nullptr) gauge = &desired_->Add({{"workload", workload}});
  gauge->Set(replicas);
}

void KedaProbe::RetainWorkloads(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = desired_children_.begin(); it != desired_children_.end();) {
    if (keep.count(it->first) == 0) {
      desired_->Remove(it->second);
      it = desired_children_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace gpufit::metrics

#include "metrics/keda_probe.h"

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
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

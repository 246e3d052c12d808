// Metrics of autoscaling: KEDA external-scaler and Recommend calls by method and status
// code, failed live-load queries to Prometheus by reason, and the desired replicas Recommend
// last computed per configured workload. Request and error children are created up front
// (recording is an array index and an atomic add); the desired-replicas series are bounded
// by the configured workloads. Thread-safe.
#ifndef GPUFIT_METRICS_KEDA_PROBE_H_
#define GPUFIT_METRICS_KEDA_PROBE_H_

#include <array>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "metrics/grpc_probe.h"

namespace prometheus {
class Counter;
class Gauge;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace gpufit::metrics {

enum class KedaMethod { kIsActive, kStreamIsActive, kGetMetricSpec, kGetMetrics, kRecommend };
inline constexpr int kKedaMethodCount = 5;

// Why a live-load query failed; the `reason` label.
enum class QueryError {
  kUnreachable,  // connection refused, DNS, timeout: no HTTP response
  kHttpStatus,   // a response other than 200 that is not a query error (5xx, 404, ...)
  kBadQuery,     // Prometheus refused the PromQL (400/422 errorType bad_data, ...)
  kBadResponse,  // not a Prometheus API answer (unparseable JSON, missing fields)
  kBadResult,    // a result gpufit cannot read as one number (several series, NaN, matrix)
};
inline constexpr int kQueryErrorCount = 5;

std::string_view KedaMethodName(KedaMethod method);  // "GetMetricSpec"
std::string_view QueryErrorName(QueryError reason);  // "unreachable"

class KedaProbe {
 public:
  explicit KedaProbe(prometheus::Registry& registry);
  KedaProbe(const KedaProbe&) = delete;
  KedaProbe& operator=(const KedaProbe&) = delete;

  // `code` is a grpc::StatusCode value (0..16); others count as UNKNOWN.
  void RecordRequest(KedaMethod method, int code);
  void RecordQueryError(QueryError reason);
  // Sets the series for `workload`, creating it on first use.
  void SetDesiredReplicas(const std::string& workload, double replicas);
  // Drops the series of workloads not in `keep` (after a reload removed them).
  void RetainWorkloads(const std::set<std::string>& keep);

 private:
  std::array<std::array<prometheus::Counter*, kGrpcCodeCount>, kKedaMethodCount> requests_{};
  std::array<prometheus::Counter*, kQueryErrorCount> query_errors_{};
  prometheus::Family<prometheus::Gauge>* desired_;

  std::mutex mu_;
  std::map<std::string, prometheus::Gauge*> desired_children_;  // guarded by mu_
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_KEDA_PROBE_H_

// Metrics of autoscaling: KEDA external-scaler and Recommend calls by method and status
// code, live-load queries to Prometheus (duration, failures by reason), what the scaler last
// saw per trigger (load, per-replica target, active), and the desired replicas Recommend
// last computed per configured workload. Request and error children are created up front
// (recording is an array index and an atomic add). Per-trigger and desired-replicas series
// are keyed by configured workload names (and catalog accelerator ids), never by what a
// client sent, so they are bounded by the config. Thread-safe.
#ifndef GPUFIT_METRICS_KEDA_PROBE_H_
#define GPUFIT_METRICS_KEDA_PROBE_H_

#include <array>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/grpc_probe.h"
#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

enum class KedaMethod { kIsActive, kStreamIsActive, kGetMetricSpec, kGetMetrics, kRecommend };
inline constexpr int kKedaMethodCount = 5;

// Why a live-load query failed; the `reason` label.
enum class QueryError {
  kUnreachable,  // connection refused, DNS, TLS, connection lost: no complete HTTP response
  kHttpStatus,   // a response other than 200 that is not a query error (5xx, 404, ...)
  kBadQuery,     // Prometheus refused the PromQL (400/422 errorType bad_data, ...)
  kBadResponse,  // not a Prometheus API answer (unparseable JSON, missing fields)
  kBadResult,    // a result gpufit cannot read as one number (several series, NaN, matrix)
  kTimeout,      // no complete answer within the query timeout or the caller's deadline
  kTooLarge,     // an answer over the size cap
  kCancelled,    // the caller went away (call cancelled, stream ended) or gpufitd shut down
};
inline constexpr int kQueryErrorCount = 8;

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
  // One live-load query to Prometheus, whatever its outcome (its count is the denominator
  // of the query error ratio).
  void ObserveQuery(double seconds);

  // What the scaler last computed for a trigger on configured workload `workload` and
  // catalog accelerator `accelerator`: the live load, the per-replica target
  // (GetMetricSpec) and IsActive's answer. Each series appears on first use.
  void SetTriggerLoad(const std::string& workload, const std::string& accelerator, double load);
  void SetTriggerTarget(const std::string& workload, const std::string& accelerator,
                        double target_per_replica);
  void SetTriggerActive(const std::string& workload, const std::string& accelerator, bool active);
  // Drops the trigger series of workloads not in `keep` (a reload removed them).
  void RetainTriggerWorkloads(const std::set<std::string>& keep);
  // Sets the series for `workload`, creating it on first use.
  void SetDesiredReplicas(const std::string& workload, double replicas);
  // Drops the series of workloads not in `keep` (after a reload removed them).
  void RetainWorkloads(const std::set<std::string>& keep);

 private:
  std::array<std::array<prometheus::Counter*, kGrpcCodeCount>, kKedaMethodCount> requests_{};
  std::array<prometheus::Counter*, kQueryErrorCount> query_errors_{};
  prometheus::Histogram* query_seconds_;
  prometheus::Family<prometheus::Gauge>* desired_;
  // load, target per replica, active.
  std::array<prometheus::Family<prometheus::Gauge>*, 3> trigger_{};

  void SetTrigger(int kind, const std::string& workload, const std::string& accelerator,
                  double value);

  std::mutex mu_;
  std::map<std::string, prometheus::Gauge*> desired_children_;  // guarded by mu_
  // (workload, accelerator) -> the gauges of trigger_ (null until first set); guarded by mu_.
  std::map<std::pair<std::string, std::string>, std::array<prometheus::Gauge*, 3>>
      trigger_children_;
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_KEDA_PROBE_H_

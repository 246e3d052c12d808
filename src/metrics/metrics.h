// All of gpufitd's metrics: one registry, the probes that write to it, and the process
// collector; Serialize() renders the Prometheus text exposition format 0.0.4 for /metrics.
// Create one per process (or per in-process test server). Thread-safe.
#ifndef GPUFIT_METRICS_METRICS_H_
#define GPUFIT_METRICS_METRICS_H_

#include <memory>
#include <string>

#include "metrics/config_probe.h"
#include "metrics/decision_probe.h"
#include "metrics/extender_probe.h"
#include "metrics/fleet_probe.h"
#include "metrics/grpc_probe.h"
#include "metrics/http_probe.h"
#include "metrics/keda_probe.h"
#include "metrics/overload_probe.h"
#include "metrics/workload_probe.h"

namespace gpufit::metrics {

class ProcessCollector;
class TlsProbe;  // metrics/tls_probe.h

// The Content-Type of Serialize()'s output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class Metrics {
 public:
  explicit Metrics(const std::string& build_version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  TlsProbe& tls() { return *tls_; }
  GrpcProbe& grpc() { return *grpc_; }
  DecisionProbe& decisions() { return *decisions_; }
  WorkloadProbe& workloads() { return *workloads_; }
  ConfigProbe& config() { return *config_; }
  ExtenderProbe& extender() { return *extender_; }
  KedaProbe& keda() { return *keda_; }
  OverloadProbe& overload() { return *overload_; }
  FleetProbe& fleet() { return *fleet_; }
  HttpProbe& http() { return *http_; }

  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ProcessCollector> process_;
  std::unique_ptr<TlsProbe> tls_;
  std::unique_ptr<GrpcProbe> grpc_;
  std::unique_ptr<DecisionProbe> decisions_;
  std::unique_ptr<WorkloadProbe> workloads_;
  std::unique_ptr<ConfigProbe> config_;
  std::unique_ptr<ExtenderProbe> extender_;
  std::unique_ptr<KedaProbe> keda_;
  std::unique_ptr<OverloadProbe> overload_;
  std::unique_ptr<FleetProbe> fleet_;
  std::unique_ptr<HttpProbe> http_;
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_METRICS_H_

// Metrics of the operator's configured workloads (gpufitd --config `workloads:`): the
// recommendation for each, refreshed at every (re)load. A workload removed by a reload
// disappears from /metrics. Thread-safe; Set() is called by the reloader only.
#ifndef GPUFIT_METRICS_WORKLOAD_PROBE_H_
#define GPUFIT_METRICS_WORKLOAD_PROBE_H_

#include <mutex>
#include <string>
#include <vector>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

// The recommendation for one configured workload, as the gauges show it.
struct WorkloadRecommendation {
  std::string workload;     // the workload's name (unique in the config)
  std::string accelerator;  // recommended accelerator id; "none" if nothing can serve it
  double replicas = 0;
  double cost_usd_per_hour = 0;         // all replicas
  double output_tokens_per_second = 0;  // all replicas at the planned load
};

class WorkloadProbe {
 public:
  explicit WorkloadProbe(prometheus::Registry& registry);
  WorkloadProbe(const WorkloadProbe&) = delete;
  WorkloadProbe& operator=(const WorkloadProbe&) = delete;

  // Replaces every workload series with `workloads`.
  void Set(const std::vector<WorkloadRecommendation>& workloads);

 private:
  prometheus::Family<prometheus::Gauge>* replicas_;
  prometheus::Family<prometheus::Gauge>* cost_;
  prometheus::Family<prometheus::Gauge>* tokens_;

  std::mutex mu_;
  std::vector<prometheus::Gauge*> children_[3];  // guarded by mu_: replicas, cost, tokens
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_WORKLOAD_PROBE_H_

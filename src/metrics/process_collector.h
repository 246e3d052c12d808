// Process metrics under the names the Prometheus client libraries use
// (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics), read from
// /proc/self at scrape time. Stateless apart from the clock-tick and page sizes; thread-safe.
#ifndef GPUFIT_METRICS_PROCESS_COLLECTOR_H_
#define GPUFIT_METRICS_PROCESS_COLLECTOR_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace gpufit::metrics {

class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  // process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
  // process_open_fds, process_max_fds, process_start_time_seconds. A value /proc cannot give
  // is left out rather than exported as a wrong number.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double ticks_per_second_;
  double page_size_bytes_;
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_PROCESS_COLLECTOR_H_

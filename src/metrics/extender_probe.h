// Metrics of the Kubernetes scheduler extender and its node cache: calls by verb and outcome,
// their latency, nodes filtered out by reason class, the node cache size and watch restarts.
// Every label value comes from the enums below (bounded sets); children are created once in
// the constructor. Thread-safe.
#ifndef GPUFIT_METRICS_EXTENDER_PROBE_H_
#define GPUFIT_METRICS_EXTENDER_PROBE_H_

#include <array>
#include <cstddef>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

enum class ExtenderVerb { kFilter, kPrioritize };
inline constexpr size_t kExtenderVerbCount = 2;

// kOk: a decision for a gpufit pod; kPassThrough: not a gpufit pod, nodes returned as sent;
// kPodError: HTTP 200 with Error set (bad annotations, unknown model); kBadRequest: HTTP 400.
enum class ExtenderOutcome { kOk, kPassThrough, kPodError, kBadRequest };
inline constexpr size_t kExtenderOutcomeCount = 4;

// Why a node was filtered out. kMemory/kSlo/kCapability: its accelerators cannot serve the
// workload (FailedAndUnresolvableNodes), as are kNoGpu and kUnknownProduct; kNoCapacity and
// kNotInCache go to FailedNodes.
enum class FilterReason {
  kMemory,
  kSlo,
  kCapability,
  kNoGpu,
  kUnknownProduct,
  kNoCapacity,
  kNotInCache,
};
inline constexpr size_t kFilterReasonCount = 7;

class ExtenderProbe {
 public:
  explicit ExtenderProbe(prometheus::Registry& registry);
  ExtenderProbe(const ExtenderProbe&) = delete;
  ExtenderProbe& operator=(const ExtenderProbe&) = delete;

  void RecordRequest(ExtenderVerb verb, ExtenderOutcome outcome, double seconds);
  void RecordFiltered(FilterReason reason, double nodes = 1);
  void SetCacheNodes(size_t nodes);
  void WatchRestarted();

 private:
  std::array<std::array<prometheus::Counter*, kExtenderOutcomeCount>, kExtenderVerbCount>
      requests_{};
  std::array<prometheus::Histogram*, kExtenderVerbCount> durations_{};
  std::array<prometheus::Counter*, kFilterReasonCount> filtered_{};
  prometheus::Gauge* cache_nodes_ = nullptr;
  prometheus::Counter* watch_restarts_ = nullptr;
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_EXTENDER_PROBE_H_

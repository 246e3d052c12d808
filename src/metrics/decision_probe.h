// Metrics of the placement decisions gpufitd serves: the recommended accelerator of each
// Place call and why options were rejected. Accelerator labels come from the catalog in
// force (a bounded set), never from what a client sent. Thread-safe.
#ifndef GPUFIT_METRICS_DECISION_PROBE_H_
#define GPUFIT_METRICS_DECISION_PROBE_H_

#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "core/catalog.h"
#include "core/decision.h"
#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

class DecisionProbe {
 public:
  explicit DecisionProbe(prometheus::Registry& registry);
  DecisionProbe(const DecisionProbe&) = delete;
  DecisionProbe& operator=(const DecisionProbe&) = delete;

  // Creates the children for every accelerator of `catalog` (call when a config is loaded,
  // before it serves), so that recording a decision from it is an index, not a lookup.
  // Children of accelerators that left the catalog stay: counters never go backwards.
  void BindCatalog(std::shared_ptr<const core::Catalog> catalog);

  // Counts one Place result computed from `catalog`.
  void RecordPlace(const core::Catalog& catalog, const core::Decision& decision);

 private:
  // Children for one catalog, indexed like catalog->accelerators().
  struct Bound {
    std::shared_ptr<const core::Catalog> catalog;
    std::vector<prometheus::Counter*> by_accelerator;
  };

  prometheus::Family<prometheus::Counter>* decisions_;
  prometheus::Counter* no_decision_;
  // kMemory, kSlo, kCapability.
  std::array<prometheus::Counter*, 3> infeasible_{};

  mutable std::mutex mu_;
  std::shared_ptr<const Bound> bound_;  // guarded by mu_
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_DECISION_PROBE_H_

// Scale-down stabilisation, as the Kubernetes HPA applies it (behavior.scaleDown.
// stabilizationWindowSeconds, default 300 s): the desired replica count is the largest
// recommendation made within the window, so a brief dip in load does not scale down and
// straight back up; scaling up follows the load at once. Keyed by workload name.
//
// Thread-safe. The clock is injected (tests advance it by hand); the default is
// absl::Now. Memory: the recommendations within one window per key, which Recommend calls a
// few seconds apart keep to a few hundred entries.
#ifndef GPUFIT_SERVER_SCALE_STABILIZER_H_
#define GPUFIT_SERVER_SCALE_STABILIZER_H_

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "absl/time/time.h"

namespace gpufit::server {

class ScaleStabilizer {
 public:
  using Clock = std::function<absl::Time()>;
  explicit ScaleStabilizer(Clock clock = nullptr);

  // Records `replicas` for `key` now and returns the largest recommendation for `key` made
  // within the last `window` (including this one). A zero window returns `replicas`.
  int Stabilize(const std::string& key, int replicas, absl::Duration window);

  // Forgets keys not in `keep` (workloads a config reload removed).
  void Retain(const std::set<std::string>& keep);

 private:
  Clock clock_;
  std::mutex mu_;
  // Per key, (time, replicas) in time order; guarded by mu_.
  std::map<std::string, std::deque<std::pair<absl::Time, int>>> history_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_SCALE_STABILIZER_H_

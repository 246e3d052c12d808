#include "server/scale_stabilizer.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace gpufit::server {

ScaleStabilizer::ScaleStabilizer(Clock clock)
    : clock_(clock ? std::move(clock) : Clock([] { return absl::Now(); })) {}

int ScaleStabilizer::Stabilize(const std::string& key, int replicas, absl::Duration window) {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  std::deque<std::pair<absl::Time, int>>& history = history_[key];
  // Entries older than the window no longer count (the HPA keeps those within
  // [now - window, now]). A clock that steps back leaves later entries in place: they
  // age out once it catches up.
  while (!history.empty() && history.front().first < now - window) history.pop_front();
  if (window <= absl::ZeroDuration()) {
    history.clear();
    return replicas;
  }
  history.emplace_back(now, replicas);
  int desired = replicas;
  for (const auto& [time, r] : history) desired = std::max(desired, r);
  return desired;
}

void ScaleStabilizer::Retain(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = history_.begin(); it != history_.end();) {
    it = keep.count(it->first) == 0 ? history_.erase(it) : std::next(it);
  }
}

}  // namespace gpufit::server

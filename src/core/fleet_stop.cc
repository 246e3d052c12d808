#include "core/fleet_stop.h"

#include <algorithm>
#include <limits>

namespace gpufit::core {

bool FleetStop::Cancelled() const {
  if (was_cancelled_) return true;
  if (!cancelled_) return false;
  const Clock::time_point now = Clock::now();
  if (now - last_poll_ < kCancelPollInterval) return false;
  last_poll_ = now;
  if (cancelled_()) {
    was_cancelled_ = true;
    expired_ = true;
  }
  return was_cancelled_;
}

bool FleetStop::Expired() const {
  if (expired_) return true;
  if (has_deadline() && Clock::now() >= deadline_) expired_ = true;
  return Cancelled() || expired_;
}

double FleetStop::SecondsLeft() const {
  if (Expired()) return 0;
  if (!has_deadline()) return std::numeric_limits<double>::infinity();
  return std::max(0.0, std::chrono::duration<double>(deadline_ - Clock::now()).count());
}

FleetStop FleetStop::WithDeadline(Clock::time_point deadline) const {
  FleetStop out = *this;
  out.deadline_ = std::min(deadline_, deadline);
  return out;
}

}  // namespace gpufit::core

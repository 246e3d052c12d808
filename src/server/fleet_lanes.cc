#include "server/fleet_lanes.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/limits.h"

namespace gpufit::server {

FleetLanes::Ticket& FleetLanes::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    lane_ = other.lane_;
    other.lane_ = nullptr;
  }
  return *this;
}

void FleetLanes::Ticket::Release() {
  if (lane_ != nullptr) {
    lane_->busy.store(false, std::memory_order_release);
    lane_->mutex.unlock();
    lane_ = nullptr;
  }
}

FleetLanes::Ticket FleetLanes::Take(LaneState& lane) {
  lane.busy.store(true, std::memory_order_release);
  return Ticket(&lane);
}

FleetLanes::Lane FleetLanes::LaneFor(int64_t cells) {
  return cells <= core::kMaxSmallFleetCells ? Lane::kSmall : Lane::kLarge;
}

absl::StatusOr<FleetLanes::Ticket> FleetLanes::Enter(Lane lane, int64_t cells,
                                                     std::chrono::system_clock::time_point deadline,
                                                     const std::function<bool()>& cancelled) {
  if (lane == Lane::kLarge) {
    if (!large_.mutex.try_lock()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "fleet solver busy: another large fleet (more than ", core::kMaxSmallFleetCells,
          " cells) is being planned and large fleets are planned one at a time; this one has ",
          cells, " cells; retry with backoff"));
    }
    return Take(large_);
  }
  // Compare in system-clock time: the infinite deadline of a call without one would overflow
  // duration arithmetic.
  const auto start = std::chrono::system_clock::now();
  const auto until =
      std::min(deadline, start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     std::chrono::duration<double>(kMaxFleetWaitSeconds)));
  // Polls `cancelled` (gRPC has no wake-up for it) every 100 ms while waiting.
  constexpr std::chrono::milliseconds kPoll{100};
  while (true) {
    const auto now = std::chrono::system_clock::now();
    const auto step = std::min(until, now + kPoll);
    if (step > now && small_.mutex.try_lock_for(step - now)) return Take(small_);
    if (step <= now && small_.mutex.try_lock()) return Take(small_);
    // The wait limit first: at the call's deadline gRPC also reports the call cancelled.
    if (std::chrono::system_clock::now() >= until) {
      return absl::UnavailableError(absl::StrCat(
          "fleet solver busy with other PlanFleet calls for ",
          absl::StrFormat("%.1f", std::chrono::duration<double>(until - start).count()),
          " s (the call's deadline or the server's wait limit); retry with backoff"));
    }
    if (cancelled && cancelled()) return absl::CancelledError("the client cancelled while queued");
  }
}

}  // namespace gpufit::server

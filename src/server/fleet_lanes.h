// Admission of PlanFleet solves by size, so that small fleets are never queued behind a huge
// one. A fleet's size is its cell count (core::MeasureFleet, core/limits.h):
//  - small fleets (at most core::kMaxSmallFleetCells) take turns in the small lane, one at a
//    time (CBC's driver, which they use, is one-at-a-time per process anyway), each waiting up
//    to its deadline and at most kMaxFleetWaitSeconds, then UNAVAILABLE;
//  - large fleets take turns in a lane of their own, one at a time, and are refused at once
//    with RESOURCE_EXHAUSTED while it is busy: a client that sends a huge fleet learns to
//    back off, and one more huge fleet never waits holding its memory.
// The core solves large fleets without CBC's driver (reentrant branch and bound), so the two
// lanes run side by side: at most one small and one large solve at any time, which bounds the
// solver memory to two solves of at most kMaxSmallFleetCells and kMaxFleetCells cells.
//
// A Ticket is RAII: it holds its lane until destroyed. Thread-safe.
#ifndef GPUFIT_SERVER_FLEET_LANES_H_
#define GPUFIT_SERVER_FLEET_LANES_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/status/statusor.h"

namespace gpufit::server {

// How long a small PlanFleet call waits for its lane when its deadline allows longer (or it
// has none): past this the solver is overloaded and UNAVAILABLE tells the client to back off.
inline constexpr double kMaxFleetWaitSeconds = 30.0;

class FleetLanes {
 private:
  struct LaneState {
    std::timed_mutex mutex;
    std::atomic<bool> busy{false};
  };

 public:
  enum class Lane { kSmall, kLarge };

  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : lane_(other.lane_) { other.lane_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { Release(); }
    void Release();

   private:
    friend class FleetLanes;
    explicit Ticket(LaneState* lane) : lane_(lane) {}
    LaneState* lane_ = nullptr;
  };

  FleetLanes() = default;
  FleetLanes(const FleetLanes&) = delete;
  FleetLanes& operator=(const FleetLanes&) = delete;

  // The lane of a fleet of `cells` cells.
  static Lane LaneFor(int64_t cells);

  // The lane's ticket. Small: waits until the lane frees up, `deadline`, kMaxFleetWaitSeconds
  // or `cancelled` (polled; null = never), whichever is first: UNAVAILABLE when it gave up,
  // CANCELLED when the caller has gone. Large: at once, or RESOURCE_EXHAUSTED naming the size.
  absl::StatusOr<Ticket> Enter(Lane lane, int64_t cells,
                               std::chrono::system_clock::time_point deadline,
                               const std::function<bool()>& cancelled = nullptr);

  // Whether a solve holds `lane` now (for tests; stale as soon as it returns).
  bool busy(Lane lane) const {
    return (lane == Lane::kSmall ? small_ : large_).busy.load(std::memory_order_acquire);
  }

 private:
  static Ticket Take(LaneState& lane);

  LaneState small_;
  LaneState large_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_FLEET_LANES_H_

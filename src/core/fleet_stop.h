// When a fleet solve must end before its own time limit: the whole call's deadline, and the
// caller giving up. Every stage of the planner polls it — problem building, the heuristic, the
// local search, each CBC and CLP run (through their event handlers), the single-type
// comparisons — and returns what it has (the best plan so far, or an error when there is none
// yet), so that the CPU goes idle soon after the caller has gone.
//
// The core does no I/O: the caller supplies cancellation as a plain callback (gpufitd polls
// its gRPC call; a test flips an atomic). The callback is polled at most every
// kCancelPollInterval, because the solvers ask after every simplex iteration.
//
// Not thread-safe: one solve polls it from one thread (CBC runs single-threaded here); the
// callback itself may read state other threads write. Copyable; copies poll the same callback.
#ifndef GPUFIT_CORE_FLEET_STOP_H_
#define GPUFIT_CORE_FLEET_STOP_H_

#include <chrono>
#include <functional>
#include <utility>

namespace gpufit::core {

class FleetStop {
 public:
  using Clock = std::chrono::steady_clock;

  // How often the cancellation callback is polled at most. Ten milliseconds is far below
  // anything a client notices, and far above the cost of one poll (a gRPC completion-queue
  // pluck, a few microseconds).
  static constexpr std::chrono::milliseconds kCancelPollInterval{10};

  // Never stops.
  FleetStop() = default;
  // Stops at `deadline` (Clock::time_point::max() = none) or once `cancelled` returns true
  // (null = never). `cancelled` must be safe to call from the solving thread.
  FleetStop(Clock::time_point deadline, std::function<bool()> cancelled)
      : deadline_(deadline), cancelled_(std::move(cancelled)) {}

  // True once the deadline has passed or the caller has cancelled; stays true.
  bool Expired() const;
  // True once the caller has cancelled (polls the callback); stays true.
  bool Cancelled() const;
  // Seconds until the deadline: +inf without one, 0 once expired.
  double SecondsLeft() const;
  Clock::time_point deadline() const { return deadline_; }
  bool has_deadline() const { return deadline_ != Clock::time_point::max(); }

  // The same callback with an earlier deadline (min of both).
  FleetStop WithDeadline(Clock::time_point deadline) const;

 private:
  Clock::time_point deadline_ = Clock::time_point::max();
  std::function<bool()> cancelled_;
  mutable bool expired_ = false;
  mutable bool was_cancelled_ = false;
  mutable Clock::time_point last_poll_{};
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_STOP_H_

// A byte budget for HTTP request bodies in flight (server/http_server.h): the bodies a server
// holds at once (read, waiting for a worker, being handled, being answered) never add up to
// more than the capacity, whatever the clients send. Handling a body costs a multiple of its
// size (the extender's parse: docs/memory-budget.md), so this bounds that too.
//
// Waiters are served in arrival order: while anyone waits, TryAcquire() fails, so that a
// stream of small bodies cannot starve a large one.
//
// Thread-safe. `granted` callbacks run on the thread that released the bytes (or inside
// Wait() when they fit at once) and must be quick (post to an executor).
#ifndef GPUFIT_SERVER_BODY_BUDGET_H_
#define GPUFIT_SERVER_BODY_BUDGET_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace gpufit::server {

class BodyBudget {
 public:
  // `changed` (optional) is told the bytes in use after each change, under the budget's lock;
  // it must be cheap and must not call back.
  explicit BodyBudget(size_t capacity_bytes, std::function<void(size_t)> changed = {});
  BodyBudget(const BodyBudget&) = delete;
  BodyBudget& operator=(const BodyBudget&) = delete;

  size_t capacity_bytes() const { return capacity_bytes_; }

  // Takes `bytes` if they fit and nobody waits.
  bool TryAcquire(size_t bytes);

  using Ticket = uint64_t;
  // Takes `bytes` now if TryAcquire() would, else queues the request; `granted` runs once the
  // bytes are taken for the caller (who must Release() them). Requests larger than the
  // capacity are never granted: check against capacity_bytes() first.
  Ticket Wait(size_t bytes, std::function<void()> granted);
  // Withdraws a waiting request: true if it was still waiting (it will never be granted);
  // false if it has been granted (its callback has run or is running).
  bool Cancel(Ticket ticket);

  void Release(size_t bytes);

  size_t in_use_bytes() const;
  size_t peak_bytes() const;
  size_t waiting() const;

 private:
  struct Waiter {
    Ticket ticket;
    size_t bytes;
    std::function<void()> granted;
  };
  // Grants waiters from the front while they fit; returns their callbacks (run unlocked).
  std::deque<std::function<void()>> GrantLocked();
  void NotifyLocked();

  const size_t capacity_bytes_;
  const std::function<void(size_t)> changed_;
  mutable std::mutex mu_;
  size_t in_use_bytes_ = 0;     // guarded by mu_
  size_t peak_bytes_ = 0;       // guarded by mu_
  Ticket next_ticket_ = 1;      // guarded by mu_
  std::deque<Waiter> waiters_;  // guarded by mu_; arrival order
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_BODY_BUDGET_H_

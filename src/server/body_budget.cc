#include "server/body_budget.h"

#include <algorithm>
#include <utility>

namespace gpufit::server {

BodyBudget::BodyBudget(size_t capacity_bytes, std::function<void(size_t)> changed)
    : capacity_bytes_(capacity_bytes), changed_(std::move(changed)) {}

void BodyBudget::NotifyLocked() {
  peak_bytes_ = std::max(peak_bytes_, in_use_bytes_);
  if (changed_) changed_(in_use_bytes_);
}

bool BodyBudget::TryAcquire(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!waiters_.empty() || bytes > capacity_bytes_ - in_use_bytes_) return false;
  in_use_bytes_ += bytes;
  NotifyLocked();
  return true;
}

BodyBudget::Ticket BodyBudget::Wait(size_t bytes, std::function<void()> granted) {
  Ticket ticket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ticket = next_ticket_++;
    if (waiters_.empty() && bytes <= capacity_bytes_ - in_use_bytes_) {
      in_use_bytes_ += bytes;
      NotifyLocked();
    } else {
      waiters_.push_back(Waiter{ticket, bytes, std::move(granted)});
      return ticket;
    }
  }
  granted();
  return ticket;
}

bool BodyBudget::Cancel(Ticket ticket) {
  std::deque<std::function<void()>> granted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(waiters_.begin(), waiters_.end(),
                           [ticket](const Waiter& w) { return w.ticket == ticket; });
    if (it == waiters_.end()) return false;
    const bool was_front = it == waiters_.begin();
    waiters_.erase(it);
    // The withdrawn request may have been what held the ones behind it back.
    if (was_front) granted = GrantLocked();
  }
  for (auto& g : granted) g();
  return true;
}

void BodyBudget::Release(size_t bytes) {
  if (bytes == 0) return;
  std::deque<std::function<void()>> granted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_bytes_ -= std::min(bytes, in_use_bytes_);
    granted = GrantLocked();
    NotifyLocked();
  }
  for (auto& g : granted) g();
}

std::deque<std::function<void()>> BodyBudget::GrantLocked() {
  std::deque<std::function<void()>> granted;
  while (!waiters_.empty() && waiters_.front().bytes <= capacity_bytes_ - in_use_bytes_) {
    in_use_bytes_ += waiters_.front().bytes;
    granted.push_back(std::move(waiters_.front().granted));
    waiters_.pop_front();
  }
  if (!granted.empty()) NotifyLocked();
  return granted;
}

size_t BodyBudget::in_use_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_bytes_;
}

size_t BodyBudget::peak_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_bytes_;
}

size_t BodyBudget::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

}  // namespace gpufit::server

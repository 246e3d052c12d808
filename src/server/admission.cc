#include "server/admission.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/server_context.h"

namespace gpufit::server {

Admission::Permit& Admission::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void Admission::Permit::Release() {
  if (owner_ != nullptr) {
    owner_->ReleaseSlot();
    owner_ = nullptr;
  }
}

Admission::Admission(std::string name, AdmissionLimits limits, AdmissionListener listener)
    : name_(std::move(name)), limits_(limits), listener_(std::move(listener)) {}

void Admission::Notify() {
  if (listener_.changed) listener_.changed(in_flight_, queued_);
}

std::optional<Admission::Permit> Admission::TryAcquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (in_flight_ >= limits_.max_in_flight) return std::nullopt;
  ++in_flight_;
  Notify();
  return Permit(this);
}

absl::StatusOr<Admission::Permit> Admission::AcquireNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ >= limits_.max_in_flight) {
      if (listener_.shed) listener_.shed("queue_full");
      return absl::ResourceExhaustedError(
          absl::StrCat(name_, " overloaded: ", in_flight_, " calls in progress (--", name_,
                       "-max-in-flight=", limits_.max_in_flight, "); retry with backoff"));
    }
    ++in_flight_;
    Notify();
  }
  if (admitted_hook_) admitted_hook_();
  return Permit(this);
}

absl::StatusOr<Admission::Permit> Admission::Acquire(std::chrono::system_clock::time_point deadline,
                                                     const std::function<bool()>& cancelled) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (in_flight_ >= limits_.max_in_flight) {
      if (queued_ >= limits_.max_queued) {
        if (listener_.shed) listener_.shed("queue_full");
        return absl::ResourceExhaustedError(absl::StrCat(
            name_, " overloaded: ", in_flight_, " calls in progress (--", name_,
            "-max-in-flight=", limits_.max_in_flight, ")",
            limits_.max_queued > 0 ? absl::StrCat(" and ", queued_, " waiting (--", name_,
                                                  "-max-queued=", limits_.max_queued, ")")
                                   : "",
            "; retry with backoff"));
      }
      ++queued_;
      peak_queued_ = std::max(peak_queued_, queued_);
      Notify();
      // The earlier of the call's deadline and the server's own wait limit; the infinite
      // deadline of a call without one would overflow steady-clock arithmetic, so compare
      // in system-clock time.
      const auto start = std::chrono::system_clock::now();
      const auto until = std::min(deadline, start + limits_.max_queue_wait);
      bool gave_up = false;
      bool was_cancelled = false;
      // Polls `cancelled` (gRPC has no wake-up for it) at a coarse interval; a slot freeing
      // up wakes the waiter at once.
      while (in_flight_ >= limits_.max_in_flight) {
        const auto step =
            std::min(until, std::chrono::system_clock::now() + std::chrono::milliseconds(100));
        slot_freed_.wait_until(lock, step);
        if (in_flight_ < limits_.max_in_flight) break;
        if (cancelled && cancelled()) {
          was_cancelled = true;
          break;
        }
        if (std::chrono::system_clock::now() >= until) {
          gave_up = true;
          break;
        }
      }
      --queued_;
      if (was_cancelled || gave_up) {
        Notify();
        // Another waiter may be able to use a slot this one was woken for.
        slot_freed_.notify_one();
        if (was_cancelled) return absl::CancelledError("the client cancelled while queued");
        if (listener_.shed) listener_.shed("queue_timeout");
        return absl::ResourceExhaustedError(absl::StrCat(
            name_, " overloaded: waited ",
            std::chrono::duration_cast<std::chrono::milliseconds>(until - start).count(),
            " ms in the queue for one of ", limits_.max_in_flight, " slots (--", name_,
            "-max-in-flight); retry with backoff"));
      }
    }
    ++in_flight_;
    Notify();
  }
  if (admitted_hook_) admitted_hook_();
  return Permit(this);
}

void Admission::ReleaseSlot() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    Notify();
  }
  slot_freed_.notify_one();
}

int Admission::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int Admission::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

int Admission::peak_queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_queued_;
}

absl::StatusOr<Admission::Permit> AdmitCall(Admission* admission, grpc::ServerContext& context) {
  if (admission == nullptr) return Admission::Unlimited();
  return admission->Acquire(context.deadline(), [&context] { return context.IsCancelled(); });
}

}  // namespace gpufit::server

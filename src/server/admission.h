// Admission control for gpufitd's gRPC calls: at most `max_in_flight` calls run at once, at
// most `max_queued` more wait for a slot, and anything past that is refused at once with
// RESOURCE_EXHAUSTED naming the limit. Refusing early is the point: a server that accepts
// every call slows every call down together and holds memory for each (a sync gRPC call
// also holds a thread), until clients time out on all of them instead of retrying a few.
//
// A Permit is RAII: it holds one in-flight slot until destroyed. Thread-safe.
#ifndef GPUFIT_SERVER_ADMISSION_H_
#define GPUFIT_SERVER_ADMISSION_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ServerContext;
}  // namespace grpc

namespace gpufit::server {

struct AdmissionLimits {
  int max_in_flight = 64;
  int max_queued = 128;
  // Longest a call waits in the queue (its own deadline may cut this shorter).
  std::chrono::milliseconds max_queue_wait{5000};
};

// What the metrics are told. `changed` runs under the admission lock (so gauges never go
// stale from reordered updates) and must be cheap and must not call back.
struct AdmissionListener {
  std::function<void(int in_flight, int queued)> changed;
  // reason: "queue_full" (no room to wait) or "queue_timeout" (waited max_queue_wait or
  // the call's deadline without a slot freeing up).
  std::function<void(const char* reason)> shed;
};

class Admission {
 public:
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }
    void Release();

   private:
    friend class Admission;
    explicit Permit(Admission* owner) : owner_(owner) {}
    Admission* owner_ = nullptr;
  };

  // `name` prefixes error messages and names the flags ("--grpc-max-in-flight" ...).
  Admission(std::string name, AdmissionLimits limits, AdmissionListener listener = {});
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Non-blocking: a permit if a slot is free, else nullopt (nothing is counted as shed).
  std::optional<Permit> TryAcquire();
  // Non-blocking, for calls that must not wait (they run on gRPC's callback threads): a
  // permit if a slot is free, else RESOURCE_EXHAUSTED naming the limit, counted as shed
  // ("queue_full"). Runs the admitted hook like Acquire.
  absl::StatusOr<Permit> AcquireNow();

  // A permit now if a slot is free; else waits in the queue, if it has room, until a slot
  // frees up, `deadline` or max_queue_wait passes, or `cancelled` (optional, polled) says
  // the caller has gone. RESOURCE_EXHAUSTED naming the limit and the flag otherwise;
  // CANCELLED if `cancelled` fired.
  absl::StatusOr<Permit> Acquire(std::chrono::system_clock::time_point deadline,
                                 const std::function<bool()>& cancelled = nullptr);

  // An empty permit (holds nothing), for callers without a limit.
  static Permit Unlimited() { return Permit(); }

  int in_flight() const;
  int queued() const;
  // The most calls ever waiting at once; never above limits().max_queued.
  int peak_queued() const;
  const AdmissionLimits& limits() const { return limits_; }

  // Tests: runs on the admitted caller's thread right after it gets its permit (inside
  // Acquire), so that a test can hold admitted calls on a latch and fill the server
  // deterministically. Set before traffic.
  void SetAdmittedHookForTest(std::function<void()> hook) { admitted_hook_ = std::move(hook); }

 private:
  void ReleaseSlot();
  void Notify();

  const std::string name_;
  const AdmissionLimits limits_;
  const AdmissionListener listener_;
  std::function<void()> admitted_hook_;

  mutable std::mutex mu_;
  std::condition_variable slot_freed_;
  int in_flight_ = 0;    // guarded by mu_
  int queued_ = 0;       // guarded by mu_
  int peak_queued_ = 0;  // guarded by mu_
};

// A gRPC call's permit: waits at most until the call's deadline and gives up when the client
// cancels. Null `admission` = no limit (an empty permit).
absl::StatusOr<Admission::Permit> AdmitCall(Admission* admission, grpc::ServerContext& context);

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_ADMISSION_H_

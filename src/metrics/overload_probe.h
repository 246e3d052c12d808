// Metrics of gpufitd's admission control (server/admission.h, the HTTP server's POST worker
// pool): requests in progress and waiting per server, and requests shed (answered 503 /
// RESOURCE_EXHAUSTED without being served) by server and reason. Label values come from the
// enums below; children are created once in the constructor. Thread-safe.
#ifndef GPUFIT_METRICS_OVERLOAD_PROBE_H_
#define GPUFIT_METRICS_OVERLOAD_PROBE_H_

#include <array>
#include <cstddef>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

// kHttp: the HTTP port (extender, metrics, health); kGrpc: unary gRPC calls; kGrpcStream:
// KEDA's StreamIsActive streams, which hold a call open for as long as KEDA watches.
enum class AdmissionServer { kHttp, kGrpc, kGrpcStream };
inline constexpr size_t kAdmissionServerCount = 3;

// kQueueFull: no room left to wait; kQueueTimeout: waited the longest allowed for a slot.
enum class ShedReason { kQueueFull, kQueueTimeout };
inline constexpr size_t kShedReasonCount = 2;

class OverloadProbe {
 public:
  explicit OverloadProbe(prometheus::Registry& registry);
  OverloadProbe(const OverloadProbe&) = delete;
  OverloadProbe& operator=(const OverloadProbe&) = delete;

  void SetLoad(AdmissionServer server, int in_flight, int queued);
  void Shed(AdmissionServer server, ShedReason reason);

 private:
  std::array<prometheus::Gauge*, kAdmissionServerCount> in_flight_{};
  std::array<prometheus::Gauge*, kAdmissionServerCount> queued_{};
  std::array<std::array<prometheus::Counter*, kShedReasonCount>, kAdmissionServerCount> shed_{};
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_OVERLOAD_PROBE_H_

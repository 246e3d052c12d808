// Metrics of the gRPC API: requests by method and status code, and their latency.
// Every (method, code) child is created up front, so recording is an array index and an
// atomic add. Thread-safe.
#ifndef GPUFIT_METRICS_GRPC_PROBE_H_
#define GPUFIT_METRICS_GRPC_PROBE_H_

#include <array>
#include <string_view>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

enum class GrpcMethod { kPlace, kPredict, kGetCatalog, kPlanFleet };
inline constexpr int kGrpcMethodCount = 4;
// gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED), as in grpc::StatusCode.
inline constexpr int kGrpcCodeCount = 17;

std::string_view GrpcMethodName(GrpcMethod method);  // "Place"
std::string_view GrpcCodeName(int code);  // "INVALID_ARGUMENT"; "UNKNOWN" if out of range

class GrpcProbe {
 public:
  explicit GrpcProbe(prometheus::Registry& registry);
  GrpcProbe(const GrpcProbe&) = delete;
  GrpcProbe& operator=(const GrpcProbe&) = delete;

  // `code` is a grpc::StatusCode value; `seconds` the handler's wall time.
  void Record(GrpcMethod method, int code, double seconds);

 private:
  std::array<std::array<prometheus::Counter*, kGrpcCodeCount>, kGrpcMethodCount> requests_{};
  std::array<prometheus::Histogram*, kGrpcMethodCount> durations_{};
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_GRPC_PROBE_H_

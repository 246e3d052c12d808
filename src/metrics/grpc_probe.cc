#include "metrics/grpc_probe.h"

#include <string>

#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {
namespace {

constexpr std::string_view kCodeNames[kGrpcCodeCount] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

// A placement takes tens of microseconds on the default catalog (bench/), so the buckets
// start at 50 us (a Place near 1 s is a stall). PlanFleet runs a solver
// with a time limit of about a second (up to kMaxFleetSolveSeconds = 10 s, twice over), so
// the same boundaries go on to 30 s: one layout for the family keeps sums across methods valid.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0, 30.0};
  return buckets;
}

}  // namespace

std::string_view GrpcMethodName(GrpcMethod method) {
  switch (method) {
    case GrpcMethod::kPlace:
      return "Place";
    case GrpcMethod::kPredict:
      return "Predict";
    case GrpcMethod::kGetCatalog:
      return "GetCatalog";
    case GrpcMethod::kPlanFleet:
      return "PlanFleet";
  }
  return "unknown";
}

std::string_view GrpcCodeName(int code) {
  if (code < 0 || code >= kGrpcCodeCount) return "UNKNOWN";
  return kCodeNames[code];
}

GrpcProbe::GrpcProbe(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("gpufit_grpc_requests_total")
                       .Help("gRPC requests handled by gpufitd, by method and status code.")
                       .Register(registry);
  auto& durations = prometheus::BuildHistogram()
                        .Name("gpufit_grpc_request_duration_seconds")
                        .Help("Time gpufitd spent handling a gRPC request, by method.")
                        .Register(registry);
  for (int m = 0; m < kGrpcMethodCount; ++m) {
    const std::string method(GrpcMethodName(static_cast<GrpcMethod>(m)));
    for (int c = 0; c < kGrpcCodeCount; ++c) {
      requests_[m][c] = &requests.Add({{"method", method}, {"code", std::string(kCodeNames[c])}});
    }
    durations_[m] = &durations.Add({{"method", method}}, DurationBuckets());
  }
}

void GrpcProbe::Record(GrpcMethod method, int code, double seconds) {
  const int m = static_cast<int>(method);
  if (code < 0 || code >= kGrpcCodeCount) code = 2;  // UNKNOWN
  requests_[m][code]->Increment();
  durations_[m]->Observe(seconds);
}

}  // namespace gpufit::metrics

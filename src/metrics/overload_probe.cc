#include "metrics/overload_probe.h"

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {
namespace {

constexpr const char* kServers[kAdmissionServerCount] = {"http", "grpc", "grpc_stream"};
constexpr const char* kReasons[kShedReasonCount] = {"queue_full", "queue_timeout"};

}  // namespace

OverloadProbe::OverloadProbe(prometheus::Registry& registry) {
  auto& in_flight = prometheus::BuildGauge()
                        .Name("gpufit_requests_in_flight")
                        .Help(
                            "Requests being served now, by server (http: POST handlers "
                            "running; grpc: unary calls; grpc_stream: StreamIsActive streams).")
                        .Register(registry);
  auto& queued = prometheus::BuildGauge()
                     .Name("gpufit_requests_queued")
                     .Help("Requests waiting for a free worker or call slot, by server.")
                     .Register(registry);
  auto& shed = prometheus::BuildCounter()
                   .Name("gpufit_requests_shed_total")
                   .Help(
                       "Requests refused because the server was at its limits (HTTP 503, gRPC "
                       "RESOURCE_EXHAUSTED), by server and reason (queue_full, queue_timeout).")
                   .Register(registry);
  for (size_t s = 0; s < kAdmissionServerCount; ++s) {
    in_flight_[s] = &in_flight.Add({{"server", kServers[s]}});
    queued_[s] = &queued.Add({{"server", kServers[s]}});
    for (size_t r = 0; r < kShedReasonCount; ++r) {
      shed_[s][r] = &shed.Add({{"server", kServers[s]}, {"reason", kReasons[r]}});
    }
  }
}

void OverloadProbe::SetLoad(AdmissionServer server, int in_flight, int queued) {
  const auto s = static_cast<size_t>(server);
  in_flight_[s]->Set(in_flight);
  queued_[s]->Set(queued);
}

void OverloadProbe::Shed(AdmissionServer server, ShedReason reason) {
  shed_[static_cast<size_t>(server)][static_cast<size_t>(reason)]->Increment();
}

}  // namespace gpufit::metrics

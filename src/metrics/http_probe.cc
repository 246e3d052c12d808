#include "metrics/http_probe.h"

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {
namespace {

constexpr const char* kListeners[kHttpListenerCount] = {"http", "health"};
constexpr const char* kConnectionReasons[kHttpConnectionRefusalCount] = {"max_connections",
                                                                         "tls_handshake"};
constexpr const char* kRequestReasons[kHttpRefusalCount] = {
    "malformed", "header_limit", "body_limit", "deadline", "body_budget"};

}  // namespace

HttpProbe::HttpProbe(prometheus::Registry& registry) {
  auto& open = prometheus::BuildGauge()
                   .Name("gpufit_http_connections_open")
                   .Help("HTTP connections open now, by listener (http, health).")
                   .Register(registry);
  auto& connections_refused =
      prometheus::BuildCounter()
          .Name("gpufit_http_connections_refused_total")
          .Help(
              "HTTP connections closed before any request was read, by listener and reason "
              "(max_connections: answered 503 at --http-max-connections; tls_handshake: the TLS "
              "handshake failed or timed out).")
          .Register(registry);
  auto& requests_refused =
      prometheus::BuildCounter()
          .Name("gpufit_http_requests_refused_total")
          .Help(
              "HTTP requests refused before any handler ran, by listener and reason (malformed: "
              "400; header_limit: 431; body_limit: 413; deadline: closed at the whole-request "
              "deadline; body_budget: 503, no room in --http-body-budget-bytes).")
          .Register(registry);
  auto& body_bytes = prometheus::BuildGauge()
                         .Name("gpufit_http_body_bytes_in_flight")
                         .Help(
                             "Bytes of HTTP request bodies held now (read, queued, being "
                             "handled or answered) against --http-body-budget-bytes.")
                         .Register(registry);
  for (size_t l = 0; l < kHttpListenerCount; ++l) {
    open_[l] = &open.Add({{"listener", kListeners[l]}});
    body_bytes_[l] = &body_bytes.Add({{"listener", kListeners[l]}});
    for (size_t r = 0; r < kHttpConnectionRefusalCount; ++r) {
      connections_refused_[l][r] = &connections_refused.Add(
          {{"listener", kListeners[l]}, {"reason", kConnectionReasons[r]}});
    }
    for (size_t r = 0; r < kHttpRefusalCount; ++r) {
      requests_refused_[l][r] =
          &requests_refused.Add({{"listener", kListeners[l]}, {"reason", kRequestReasons[r]}});
    }
  }
}

void HttpProbe::SetConnectionsOpen(HttpListener listener, int open) {
  open_[static_cast<size_t>(listener)]->Set(open);
}

void HttpProbe::ConnectionRefused(HttpListener listener, HttpConnectionRefusal reason) {
  connections_refused_[static_cast<size_t>(listener)][static_cast<size_t>(reason)]->Increment();
}

void HttpProbe::RequestRefused(HttpListener listener, HttpRefusal reason) {
  requests_refused_[static_cast<size_t>(listener)][static_cast<size_t>(reason)]->Increment();
}

void HttpProbe::SetBodyBytesInFlight(HttpListener listener, size_t bytes) {
  body_bytes_[static_cast<size_t>(listener)]->Set(static_cast<double>(bytes));
}

}  // namespace gpufit::metrics

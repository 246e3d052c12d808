// Metrics of gpufitd's HTTP listeners (server/http_server.h): connections open, connections
// refused (at the connection cap, or in the TLS handshake), requests refused before any
// handler ran by reason, and the bytes of request bodies held against the body budget. The
// 503s of an overloaded worker pool are gpufit_requests_shed_total{server="http"}
// (metrics/overload_probe.h). Label values come from the enums below; children are created
// once in the constructor. Thread-safe.
#ifndef GPUFIT_METRICS_HTTP_PROBE_H_
#define GPUFIT_METRICS_HTTP_PROBE_H_

#include <array>
#include <cstddef>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

// kHttp: the HTTP port (--http-address: metrics, probes, extender); kHealth: the plain probe
// port (--health-address).
enum class HttpListener { kHttp, kHealth };
inline constexpr size_t kHttpListenerCount = 2;

// kMaxConnections: answered 503 at --http-max-connections; kTlsHandshake: the TLS handshake
// failed or did not finish within the request deadline.
enum class HttpConnectionRefusal { kMaxConnections, kTlsHandshake };
inline constexpr size_t kHttpConnectionRefusalCount = 2;

// kMalformed: 400 (request line, headers or body framing); kHeaderLimit: 431 (too many or too
// large headers); kBodyLimit: 413; kDeadline: closed at the whole-request deadline;
// kBodyBudget: 503, the body did not fit the body budget in time.
enum class HttpRefusal { kMalformed, kHeaderLimit, kBodyLimit, kDeadline, kBodyBudget };
inline constexpr size_t kHttpRefusalCount = 5;

class HttpProbe {
 public:
  explicit HttpProbe(prometheus::Registry& registry);
  HttpProbe(const HttpProbe&) = delete;
  HttpProbe& operator=(const HttpProbe&) = delete;

  void SetConnectionsOpen(HttpListener listener, int open);
  void ConnectionRefused(HttpListener listener, HttpConnectionRefusal reason);
  void RequestRefused(HttpListener listener, HttpRefusal reason);
  void SetBodyBytesInFlight(HttpListener listener, size_t bytes);

 private:
  std::array<prometheus::Gauge*, kHttpListenerCount> open_{};
  std::array<std::array<prometheus::Counter*, kHttpConnectionRefusalCount>, kHttpListenerCount>
      connections_refused_{};
  std::array<std::array<prometheus::Counter*, kHttpRefusalCount>, kHttpListenerCount>
      requests_refused_{};
  std::array<prometheus::Gauge*, kHttpListenerCount> body_bytes_{};
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_HTTP_PROBE_H_

// gpufitd's HTTP port (cpp-httplib): /metrics, /healthz and /readyz now, the scheduler
// extender's routes later. Routes are added before Start(); unknown paths get 404 with the
// JSON body {"error":"not found"}. Handlers run on the server's thread pool and must be
// thread-safe. httplib stays behind this interface (only http_server.cc includes it).
#ifndef GPUFIT_SERVER_HTTP_SERVER_H_
#define GPUFIT_SERVER_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/admission.h"

namespace httplib {
class Server;
}  // namespace httplib

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace gpufit::server {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Sets up an OpenSSL server context (certificate, client verification); false = unusable.
  using TlsSetup = std::function<bool(ssl_ctx_st*)>;
  // Before any other call: serve HTTPS instead of HTTP, with the context `setup` prepares.
  // A client that does not complete the TLS handshake (plain HTTP, no or a bad client
  // certificate when one is required) is disconnected before any handler runs.
  absl::Status EnableTls(const TlsSetup& setup);

  // Before Start() only.
  void Get(const std::string& path, HttpHandler handler);
  void Post(const std::string& path, HttpHandler handler);

  // Before Start() only. Bodies larger than `max_body_bytes` are refused with HTTP 400 and a
  // JSON body before any handler runs; a client that sends nothing for `read_timeout_seconds`
  // is disconnected.
  void SetLimits(size_t max_body_bytes, int read_timeout_seconds);

  // Before Start() only. At most `limits.max_in_flight` connections are served at once (the
  // worker threads) and at most `limits.max_queued` more wait for a worker; past that the
  // server sheds: POSTs get 503 with a JSON body naming the limits and Retry-After: 1, on a
  // separate thread, without their body being read. GETs (/metrics, /healthz, /readyz) are
  // cheap and answered even then, so probes and scrapes see the overload rather than
  // failing. httplib's own queue is unbounded; without this call the defaults apply.
  void SetConcurrency(AdmissionLimits limits, AdmissionListener listener = {});
  struct Load {
    int in_flight = 0;    // connections a worker is serving
    int queued = 0;       // accepted connections waiting for a worker
    int peak_queued = 0;  // the most ever waiting; never above max_queued
    long shed = 0;        // requests answered 503 for overload
  };
  Load load() const;
  struct QueueState;  // internal: the bounded task queue's limits and counters

  // Binds `host`:`port` (0 = any free port) and serves on a background thread. Returns the
  // bound port; UNAVAILABLE if the address cannot be bound.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting and joins the server thread. Idempotent.
  void Stop();

 private:
  void Configure();  // the settings every server gets

  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<QueueState> queue_state_;
  std::thread thread_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_HTTP_SERVER_H_

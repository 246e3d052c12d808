// gpufitd's HTTP port: /metrics, /healthz, /readyz and the scheduler extender, on Boost.Beast
// over Asio. Event-driven: a connection costs a file descriptor and a few KB while it is idle
// or slow, never a thread, so slow clients cannot starve the port (a thread-per-connection
// server is starved by as many trickling clients as it has threads).
//
// Per connection (HttpLimits): a whole-request deadline (TLS handshake, headers and body of
// one request; the response write gets as long again), limits on the header count and bytes,
// a body limit checked against Content-Length before the body is read and enforced while it
// is read (chunked too), an idle timeout between keep-alive requests, and a cap on open
// connections (503 beyond it). Bodies in flight share a byte budget (server/body_budget.h):
// a request whose Content-Length does not fit waits up to body_budget_wait, then gets 503 +
// Retry-After; requests without a body (probes, scrapes) never touch it. Requests on one
// connection are answered one at a time, in order (keep-alive and pipelining).
//
// Handlers: GET (and HEAD) routes run on the I/O threads and must be quick (probes,
// /metrics). POST routes run on a bounded worker pool (SetConcurrency): at most
// `max_in_flight` at once and `max_queued` waiting; past that POSTs get 503 with a JSON body
// naming the limits and Retry-After: 1, without their body being read, while GETs are still
// answered. Handlers must be thread-safe.
//
// Errors, each with a JSON {"error": "..."} body: 400 malformed request or framing (a
// duplicate or conflicting Content-Length included; the connection is closed), 404 no route
// for the path and method, 413 body over the limit, 431 too many or too large headers, 503
// connection cap / overload / body budget (with Retry-After: 1). A request that misses its
// deadline is closed without an answer.
//
// Thread-safety: configure (EnableTls, SetLimits, SetConcurrency, SetProbe, Get, Post) before
// Start(); Start() once; Stop() and load() from any thread. Beast/Asio stay behind this
// interface (only the .cc files include them).
#ifndef GPUFIT_SERVER_HTTP_SERVER_H_
#define GPUFIT_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "metrics/http_probe.h"
#include "server/admission.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace gpufit::server {

// Bytes past the end of every request body that stay allocated (readable, contents
// unspecified): simdjson's SIMDJSON_PADDING, so that the extender parses bodies in place
// instead of copying them (extender.cc checks that this is enough).
inline constexpr size_t kHttpBodyPaddingBytes = 64;

struct HttpRequest {
  std::string method;
  std::string path;  // the target without its query string
  // With at least kHttpBodyPaddingBytes of capacity past its size when it comes from the
  // server.
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// What one HttpServer allows. The defaults are the daemon's flag defaults (server/daemon.h
// has the reasons and docs/memory-budget.md the memory they bound).
struct HttpLimits {
  // One request's TLS handshake, headers and body must all arrive within this; the response
  // write gets as long again. A request that misses it is closed. --http-timeout-seconds.
  std::chrono::seconds request_timeout{10};
  // Longest a keep-alive connection waits for its next request (a new connection waits for
  // its first one only request_timeout). Longer than the 90 s that
  // Go's HTTP client (kube-scheduler) keeps idle connections, so that the server never
  // closes a connection the client is about to reuse for a POST it will not retry.
  std::chrono::seconds idle_timeout{120};
  size_t max_body_bytes = 64 * 1024 * 1024;
  // The request line and all header lines together, and how many header lines.
  size_t max_header_bytes = 16 * 1024;
  int max_headers = 100;
  // Connections open at once; more are answered 503 and closed.
  int max_connections = 512;
  // Bytes of request bodies held at once (read, queued, being handled or answered); at least
  // max_body_bytes (a smaller budget lowers max_body_bytes to it).
  size_t body_budget_bytes = 64 * 1024 * 1024;
  // Longest a request waits for its body's share of the budget before it gets 503.
  std::chrono::milliseconds body_budget_wait{1000};
  // Threads running the event loop (TLS handshakes, parsing, GET handlers).
  int io_threads = 2;
};

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Sets up an OpenSSL server context (certificate, client verification); false = unusable.
  using TlsSetup = std::function<bool(ssl_ctx_st*)>;
  // Serve HTTPS instead of HTTP, with the context `setup` prepares (it may install callbacks
  // that pick the certificate per handshake: server/tls_reloader.h). A client that does not
  // complete the TLS handshake within the request deadline (plain HTTP, no or a bad client
  // certificate when one is required) is disconnected before any handler runs.
  absl::Status EnableTls(const TlsSetup& setup);

  // Exact paths. A GET route also answers HEAD.
  void Get(const std::string& path, HttpHandler handler);
  void Post(const std::string& path, HttpHandler handler);

  void SetLimits(const HttpLimits& limits);
  // Shorthand: the defaults with this body limit and request deadline.
  void SetLimits(size_t max_body_bytes, int request_timeout_seconds);
  const HttpLimits& limits() const;

  // The POST worker pool: `limits.max_in_flight` threads and `limits.max_queued` requests
  // waiting for one (max_queue_wait is not used). Without this call the defaults apply.
  void SetConcurrency(AdmissionLimits limits, AdmissionListener listener = {});
  // Connections, refusals and the body budget are reported to `probe` (not owned; null = not
  // reported) under `listener`.
  void SetProbe(metrics::HttpProbe* probe, metrics::HttpListener listener);

  struct Load {
    int in_flight = 0;    // POST handlers running
    int queued = 0;       // POSTs read and waiting for a worker
    int peak_queued = 0;  // the most ever waiting; never above max_queued
    long shed = 0;        // POSTs answered 503 for overload (workers and queue full)
    int connections_open = 0;
    long connections_refused = 0;     // at the connection cap
    size_t body_bytes_in_flight = 0;  // of the body budget
    size_t peak_body_bytes_in_flight = 0;
    int bodies_waiting = 0;  // requests waiting for their body's share of the budget
  };
  Load load() const;

  // Binds `host`:`port` (0 = any free port) and serves on background threads. Returns the
  // bound port; UNAVAILABLE if the address cannot be bound.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting, closes connections that are between requests, lets requests under way
  // (being received, handled or answered) finish and be answered, for at most the request
  // deadline and a second, then joins every thread. Idempotent.
  void Stop();

  // Tests: runs on the worker thread before each POST handler, so that a test can hold
  // workers on a latch and fill the pool deterministically. Any time.
  void SetWorkerHookForTest(std::function<void()> hook);

  class Impl;  // in http_server.cc

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_HTTP_SERVER_H_

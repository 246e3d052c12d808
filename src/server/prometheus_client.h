// Live load from Prometheus: one instant query (GET {server}/api/v1/query) read as one
// number. The KEDA scaler and AutoscalingService use it; both only read, never write.
//
// A result is one number: a scalar, a vector of one sample, or an empty vector (0: nothing
// is running, as KEDA's own Prometheus scaler treats it). Several series are an error that
// asks for an aggregation (sum(...)), so that a query gpufit cannot read is never silently
// summed or truncated. Errors: UNAVAILABLE when Prometheus cannot be reached, answers 5xx,
// does not answer in time or answers more than the size cap (retry later, or fix the server);
// INVALID_ARGUMENT when it refuses the query or the result is not one number (fix the
// trigger); DEADLINE_EXCEEDED / CANCELLED when the caller's deadline passes or it goes away.
// Each error carries the metrics::QueryError reason for the metric.
//
// Which servers may be queried is the caller's check (config/prometheus_url.h: the config's
// prometheus.servers); this client connects to the URL it is given.
#ifndef GPUFIT_SERVER_PROMETHEUS_CLIENT_H_
#define GPUFIT_SERVER_PROMETHEUS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "metrics/keda_probe.h"

namespace grpc {
class ServerContext;
}  // namespace grpc

namespace gpufit::server {

// Checks that `address` is an http:// or https:// URL that config::ParsePrometheusUrl
// accepts ("http://prom:9090", "https://thanos.example/prometheus"); the message names no
// field, callers prefix theirs.
absl::Status ValidatePrometheusAddress(std::string_view address);

// Reads a /api/v1/query answer (HTTP status and body). Pure; `reason` (optional) is set on
// errors. `query` appears in error messages only. Builds only the few parts of the JSON it
// reads (status, error, data.resultType and the first values of data.result), so that its
// memory is a small multiple of the values it keeps, not of the body.
absl::StatusOr<double> ParseQueryResponse(int http_status, std::string_view body,
                                          std::string_view query,
                                          metrics::QueryError* reason = nullptr);

// What ends one query before its own timeout: the caller's deadline, and the caller going
// away (a gRPC call cancelled, a KEDA StreamIsActive stream ending), which the query polls.
struct QueryCancellation {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Polled every kQueryCancelPoll while the query runs; true = stop. Empty = never.
  std::function<bool()> cancelled;
};

// How often a running query checks QueryCancellation::cancelled (gRPC 1.51's synchronous
// server has no cancellation callback, only ServerContext::IsCancelled()).
inline constexpr std::chrono::milliseconds kQueryCancelPoll{50};

// The deadline of the gRPC call `context` serves, and its cancellation (IsCancelled()).
// `context` must outlive the queries that use the result.
QueryCancellation CancellationOf(const grpc::ServerContext& context);

struct PrometheusClientOptions {
  // The whole exchange, DNS + connect + TLS + request + the complete answer, not per read: a
  // Prometheus that trickles its answer a byte at a time still ends by then.
  double timeout_seconds = 5;
  // The largest answer body read. An instant query for one number is ~100 bytes; 1 MiB still
  // holds the answer of a query that forgot its sum() over a few thousand series, so that
  // error reads "returned N series" rather than "too large".
  size_t max_response_bytes = size_t{1} << 20;
  // Queries run at once; more wait for a slot (within their own deadline). With the cap,
  // this bounds the memory of answers in flight: each holds at most ~3 MiB (the body string,
  // which may grow to twice the cap, plus the read buffer and the fields kept), so 16 of them
  // ~50 MiB, whatever number of KEDA calls and streams the admission limits let in.
  int max_concurrent_queries = 16;
  // Verifies https:// servers against these CA certificates (PEM); "" = the system's
  // (OpenSSL's default paths, as before).
  std::string ca_file;
};

// Response headers larger than this are refused (Prometheus sends ~200 bytes of them).
inline constexpr size_t kMaxPrometheusHeaderBytes = 16 * 1024;

// An HTTP(S) client for Prometheus instant queries on Boost.Beast: each Query() runs its own
// exchange on the calling thread under one deadline (a steady_timer over the whole
// exchange), reads at most max_response_bytes of answer, and stops within kQueryCancelPoll
// once its caller cancels or ShutdownBy()'s deadline passes. At most max_concurrent_queries
// run at once. Host names are resolved on a
// helper thread the query does not wait for once it has to stop (getaddrinfo cannot be
// interrupted); at most kMaxPendingLookups such lookups run at once. Thread-safe; queries
// run concurrently. Must outlive its queries.
class PrometheusClient {
 public:
  explicit PrometheusClient(PrometheusClientOptions options = {});
  ~PrometheusClient();
  PrometheusClient(const PrometheusClient&) = delete;
  PrometheusClient& operator=(const PrometheusClient&) = delete;

  // Runs `query` on the Prometheus at `server_address` (an http:// or https:// base URL).
  absl::StatusOr<double> Query(const std::string& server_address, const std::string& query,
                               const QueryCancellation& cancel,
                               metrics::QueryError* reason = nullptr) const;

  // Queries in flight, and later ones, end by `deadline` at the latest with UNAVAILABLE
  // "gpufitd is shutting down" (Daemon::Shutdown: the end of its grace period). Idempotent;
  // the earliest deadline wins.
  void ShutdownBy(std::chrono::steady_clock::time_point deadline);

  const PrometheusClientOptions& options() const { return options_; }

  struct Tls;  // the TLS context for https:// servers; in the .cc

 private:
  const PrometheusClientOptions options_;
  // Takes one of max_concurrent_queries slots, waiting while `limits` allow; false if
  // they stopped it first.
  bool AcquireSlot(const std::function<bool()>& stopped) const;
  void ReleaseSlot() const;

  // ShutdownBy()'s deadline, steady_clock nanoseconds since its epoch; max = none.
  std::atomic<int64_t> shutdown_deadline_ns_;
  mutable std::mutex slots_mu_;
  mutable std::condition_variable slots_cv_;
  mutable int queries_in_flight_ = 0;  // guarded by slots_mu_
  mutable std::once_flag tls_once_;
  mutable std::unique_ptr<Tls> tls_;  // made on the first https:// query
};

// Most host-name lookups in flight at once, over all clients (a lookup outlives a query that
// stopped waiting for it); past it a query fails UNAVAILABLE instead of starting a thread.
inline constexpr int kMaxPendingLookups = 16;

// One query with a client of its own (tests, tools).
absl::StatusOr<double> QueryPrometheus(const std::string& server_address, const std::string& query,
                                       const PrometheusClientOptions& options,
                                       const QueryCancellation& cancel = {},
                                       metrics::QueryError* reason = nullptr);

// What the services call; tests substitute a fake.
using LoadQueryFn = std::function<absl::StatusOr<double>(
    const std::string& server_address, const std::string& query, const QueryCancellation& cancel,
    metrics::QueryError* reason)>;

// `client`'s Query as a LoadQueryFn; `client` must outlive it.
LoadQueryFn QueryFnOf(const PrometheusClient* client);

// Runs one load query through `query` the way both services need it: times it and counts a
// failure by reason into `probe` (optional), clamps a negative load to 0 (a rate() over a
// counter reset), and names the field at fault in the error, `query_field` when Prometheus
// refused the query or its result is not one number, `address_field` otherwise
// ("scalerMetadata.serverAddress: ...", "chat.autoscaling.query: ...").
absl::StatusOr<double> QueryLoad(const LoadQueryFn& query, const std::string& server_address,
                                 const std::string& promql, const QueryCancellation& cancel,
                                 std::string_view address_field, std::string_view query_field,
                                 metrics::KedaProbe* probe);

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_PROMETHEUS_CLIENT_H_

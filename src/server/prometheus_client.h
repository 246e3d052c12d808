// Live load from Prometheus: one instant query (GET {serverAddress}/api/v1/query) read as one
// number. The KEDA scaler and AutoscalingService use it; both only read, never write.
//
// A result is one number: a scalar, a vector of one sample, or an empty vector (0: nothing
// is running, as KEDA's own Prometheus scaler treats it). Several series are an error that
// asks for an aggregation (sum(...)), so that a query gpufit cannot read is never silently
// summed or truncated. Errors: UNAVAILABLE when Prometheus cannot be reached or answers 5xx
// (retry later), INVALID_ARGUMENT when it refuses the query or the result is not one number
// (fix the trigger). Each error carries the metrics::QueryError reason for the metric.
#ifndef GPUFIT_SERVER_PROMETHEUS_CLIENT_H_
#define GPUFIT_SERVER_PROMETHEUS_CLIENT_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "metrics/keda_probe.h"

namespace gpufit::server {

// Checks that `address` is an http:// or https:// URL with a host ("http://prom:9090",
// "https://thanos.example/prometheus"); the message names no field, callers prefix theirs.
absl::Status ValidatePrometheusAddress(std::string_view address);

// Reads a /api/v1/query answer (HTTP status and body). Pure; `reason` (optional) is set on
// errors. `query` appears in error messages only.
absl::StatusOr<double> ParseQueryResponse(int http_status, std::string_view body,
                                          std::string_view query,
                                          metrics::QueryError* reason = nullptr);

// Runs `query` against the Prometheus at `server_address` (validated as above) with
// `timeout_seconds` for connecting and for reading each. Blocks; thread-safe (a client per
// call: queries are seconds apart, and KEDA triggers may name different servers).
absl::StatusOr<double> QueryPrometheus(const std::string& server_address, const std::string& query,
                                       double timeout_seconds,
                                       metrics::QueryError* reason = nullptr);

// What the services call; tests substitute a fake.
using LoadQueryFn = std::function<absl::StatusOr<double>(
    const std::string& server_address, const std::string& query, metrics::QueryError* reason)>;

// Runs one load query through `query` the way both services need it: times it and counts a
// failure by reason into `probe` (optional), clamps a negative load to 0 (a rate() over a
// counter reset), and names the field at fault in the error, `query_field` when Prometheus
// refused the query or its result is not one number, `address_field` otherwise
// ("scalerMetadata.serverAddress: ...", "chat.autoscaling.query: ...").
absl::StatusOr<double> QueryLoad(const LoadQueryFn& query, const std::string& server_address,
                                 const std::string& promql, std::string_view address_field,
                                 std::string_view query_field, metrics::KedaProbe* probe);

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_PROMETHEUS_CLIENT_H_

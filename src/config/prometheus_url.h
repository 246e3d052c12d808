// The Prometheus servers gpufitd may query (the `prometheus.servers` allow-list of its config
// file, config/service_config.h) and how a URL naming one is read and compared.
//
// A KEDA trigger's `serverAddress` and a workload's `autoscaling.prometheus_url` must name a
// server on the list: gpufitd connects only where its operator said it may, never where a
// gRPC client says (server-side request forgery). URLs are compared after normalisation, so
// "HTTP://Prom:80/" and "http://prom" are the same server; anything that could make two
// parsers disagree about where a URL points is refused rather than normalised: userinfo
// (user:password@), a query or fragment, percent-encoding, dot segments, "//" in the path,
// characters outside [A-Za-z0-9-._~] in the host or path. Pure; thread-safe.
#ifndef GPUFIT_CONFIG_PROMETHEUS_URL_H_
#define GPUFIT_CONFIG_PROMETHEUS_URL_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gpufit::config {

// Longest URL accepted; a Prometheus base URL is a few dozen characters.
inline constexpr size_t kMaxPrometheusUrlBytes = 2048;

// A Prometheus base URL, normalised.
struct PrometheusUrl {
  bool https = false;
  std::string host;  // lower case; an IPv6 address without its brackets
  int port = 0;      // as written, or the scheme's default (80, 443)
  // The API's path prefix: "" or "/prometheus" (no trailing '/'); queries go to
  // path_prefix + "/api/v1/query".
  std::string path_prefix;

  // "https://thanos.example:443/prometheus": what two URLs are compared by.
  std::string Canonical() const;
  // The Host header: host, bracketed if IPv6, and ":port" unless it is the default.
  std::string HostHeader() const;
};

// INVALID_ARGUMENT with a message that names no field (callers prefix theirs) and, for a URL
// with userinfo, does not repeat the URL (it may hold a password).
absl::StatusOr<PrometheusUrl> ParsePrometheusUrl(std::string_view url);

// The entry of `allowed` (prometheus.servers, each already valid) that names the same server
// as `address`, as the operator wrote it: that text, never the caller's, is what gpufitd
// connects to. INVALID_ARGUMENT if `address` is not a valid URL or matches no entry; the
// message lists the allowed servers.
absl::StatusOr<std::string> MatchPrometheusServer(const std::vector<std::string>& allowed,
                                                  std::string_view address);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_PROMETHEUS_URL_H_

// gpufitd, composed: the config in force (ConfigStore + ConfigReloader), the gRPC server
// (PlacementService, the KEDA external scaler, AutoscalingService, health, reflection), the
// HTTP server (/metrics, /healthz, /readyz) and the metrics. src/daemon/gpufitd_main.cc wires
// flags and signals to it; tests run it in-process on 127.0.0.1:0.
//
// Lifecycle: Start() -> serving -> Shutdown() (readiness 503 and health NOT_SERVING, then
// gRPC Shutdown(now + grace) lets in-flight calls finish, Prometheus queries included, which
// are stopped at the end of the grace period; then HTTP stops). Reload() and
// Shutdown() may be called from any thread; Start() once.
#ifndef GPUFIT_SERVER_DAEMON_H_
#define GPUFIT_SERVER_DAEMON_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "metrics/metrics.h"
#include "metrics/workload_probe.h"
#include "server/admission.h"
#include "server/config_store.h"
#include "server/fleet_lanes.h"
#include "server/http_server.h"
#include "server/logging.h"

namespace gpufit::k8s {
class NodeCache;
class NodeWatcher;
}  // namespace gpufit::k8s

namespace grpc {
class Server;
}  // namespace grpc

namespace gpufit::server {

class AutoscalingServiceImpl;
class ConfigReloader;
class Extender;
class KedaScaler;
class PlacementServiceImpl;
class PrometheusClient;
class TlsReloader;

// The gpufitd release ("0.1.0"), from project(VERSION) in CMakeLists.txt.
std::string_view DaemonVersion();

struct DaemonOptions {
  std::string config_path;  // empty = the compiled-in catalog, no workloads, no reload
  std::string grpc_address = "0.0.0.0:50051";
  std::string http_address = "0.0.0.0:8080";
  LogLevel log_level = LogLevel::kInfo;
  // Time in-flight calls get to finish on shutdown; keep below the pod's
  // terminationGracePeriodSeconds (30 by default).
  int shutdown_grace_seconds = 10;
  // Largest request accepted; larger ones are refused with RESOURCE_EXHAUSTED before any
  // handler runs. 1 MiB, a quarter of gRPC's own default: the largest fleet PlanFleet accepts
  // (1,000 workloads) is ~45 KB, and every admitted or queued call holds its request, so this
  // times the gRPC slots is a term of the memory budget (server/memory_budget.h).
  int max_message_bytes = 1024 * 1024;
  int reload_poll_seconds = 2;  // 0 = SIGHUP only
  std::string tls_cert_path;    // PEM; with tls_key_path enables TLS on the gRPC port
  std::string tls_key_path;
  std::string tls_client_ca_path;  // PEM; requires and verifies client certificates (mTLS)
  // HTTPS on the HTTP port (metrics, probes, extender), independent of the gRPC port's TLS:
  // PEM, cert and key both or neither; a client CA requires client certificates (mTLS).
  std::string http_tls_cert_path;
  std::string http_tls_key_path;
  std::string http_tls_client_ca_path;
  // Plain HTTP with /healthz and /readyz only, for kubelet probes (which present no client
  // certificate) when the HTTP port requires one. Empty = off.
  std::string health_address;
  // Scheduler extender (server/extender.h): POST {prefix}/filter and {prefix}/prioritize on
  // the HTTP port.
  std::string extender_prefix;
  // Largest extender request body (413 beyond it, refused from Content-Length before it is
  // read). kube-scheduler sends ~10% of a large cluster's nodes; a 500-node Nodes body with
  // images and managedFields is ~10-30 MB.
  size_t extender_max_body_bytes = 32 * 1024 * 1024;
  // HTTP port (server/http_server.h; docs/memory-budget.md has the memory these
  // bound). The whole-request deadline: TLS handshake, headers and body of one request must
  // arrive within it (a slow client is closed at it, whatever it trickles); the answer's
  // write gets as long again.
  int http_timeout_seconds = 10;
  // Keep-alive: longer than the 90 s Go's HTTP client (kube-scheduler's extender client)
  // keeps an idle connection, so that gpufitd never closes one under a POST the client has
  // started to write and will not retry. An idle connection costs a descriptor and a few KB.
  int http_idle_timeout_seconds = 120;
  // Connections open at once (503 beyond): kube-scheduler, Prometheus and the kubelet use a
  // handful; the cap bounds what idle and slow ones can hold.
  int http_max_connections = 512;
  // Request line and headers: bytes and lines (431 beyond). Node's and nginx's header limits
  // are 16 KiB and 32 KiB; kube-scheduler, Prometheus and kubelet probes send < 1 KiB.
  int http_max_header_bytes = 16 * 1024;
  int http_max_headers = 100;
  // Bytes of request bodies in flight at once (a body that does not fit waits 1 s, then
  // 503 + Retry-After). At least --extender-max-body-bytes.
  size_t http_body_budget_bytes = 32 * 1024 * 1024;
  // Node cache for the extender's NodeNames mode: the API server to list/watch nodes from.
  // Empty URL = in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account token and
  // CA); no URL and not in a cluster = no node cache.
  std::string kube_api_url;
  std::string kube_token_file;
  std::string kube_ca_file;
  // KEDA external scaler (server/keda_scaler.h): StreamIsActive's Prometheus poll interval.
  int keda_poll_seconds = 5;
  // The whole of one live-load query to Prometheus (server/prometheus_client.h), connect to
  // last byte; a call's own deadline and shutdown's grace period cut it shorter.
  int prometheus_timeout_seconds = 5;
  // Overload (server/admission.h): past these, calls get RESOURCE_EXHAUSTED and HTTP POSTs
  // 503 at once instead of everyone slowing down together.
  int grpc_max_in_flight = 32;        // unary gRPC calls served at once
  int grpc_max_queued = 32;           // more waiting for a slot (at most until their deadline)
  int grpc_max_queue_wait_ms = 5000;  // longest a queued call waits (its deadline may cut it)
  int grpc_max_streams = 256;         // KEDA StreamIsActive streams open at once
  // The longest one PlanFleet call may plan, whatever it asks (kMaxFleetSolveSeconds).
  int fleet_solve_seconds = 10;
  int http_threads = 8;      // HTTP POST handlers (extender calls) run at once
  int http_max_queued = 64;  // more POSTs, read, waiting for a thread
};

struct DaemonFlags {
  DaemonOptions options;
  bool help = false;
  bool version = false;
  bool memory_budget = false;  // print ComputeMemoryBudget() for these flags and exit
};

// Parses gpufitd's arguments (without argv[0]); `--flag=value` and `--flag value` alike.
// INVALID_ARGUMENT "--flag: reason" for unknown flags and bad values.
absl::StatusOr<DaemonFlags> ParseDaemonFlags(const std::vector<std::string>& args);
std::string_view DaemonUsage();

// HOST:PORT as the flags take it; "[::1]:0" keeps its brackets in `host`.
struct HostPort {
  std::string host;
  int port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(std::string_view address, std::string_view flag);

// The recommendation for each configured workload, as the workload metrics show it.
std::vector<metrics::WorkloadRecommendation> RecommendWorkloads(
    const config::ServiceConfig& config);

class Daemon {
 public:
  // `logger` is not owned and must outlive the daemon.
  Daemon(DaemonOptions options, Logger* logger);
  ~Daemon();  // Shutdown()s
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Loads the config and starts both servers; logs the "serving" line. Errors (bad config,
  // unreadable TLS files, an address that cannot be bound) leave nothing running.
  absl::Status Start();
  // SIGHUP: reload the config file now (no-op without one). True if a new config is in force.
  bool Reload();
  // SIGTERM/SIGINT. Blocks until both servers have stopped. Idempotent.
  void Shutdown();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  int health_port() const { return health_port_; }  // 0 without --health-address
  bool ready() const { return ready_.load(); }
  const ConfigStore& store() const { return store_; }
  metrics::Metrics& metrics() { return metrics_; }
  // Null when the node cache is off (no --kube-api-url and not in a cluster).
  const k8s::NodeCache* node_cache() const { return node_cache_.get(); }
  const k8s::NodeWatcher* node_watcher() const { return node_watcher_.get(); }
  // Admission of unary gRPC calls (tests hold admitted calls on its hook).
  Admission& grpc_admission() { return *grpc_admission_; }
  // PlanFleet's lanes (server/fleet_lanes.h); after Start().
  const FleetLanes& fleet_lanes() const;
  HttpServer::Load http_load() const { return http_.load(); }
  // The HTTP port's server (tests hold its POST workers on its hook).
  HttpServer& http_server() { return http_; }

 private:
  void Install(std::shared_ptr<const config::ServiceConfig> config);
  absl::Status StartGrpc();
  absl::Status StartHttp();
  absl::Status StartHealthHttp();
  void StartNodeCache();

  const DaemonOptions options_;
  Logger* logger_;
  metrics::Metrics metrics_;
  ConfigStore store_;
  std::unique_ptr<ConfigReloader> reloader_;
  std::unique_ptr<Admission> grpc_admission_;
  std::unique_ptr<Admission> stream_admission_;
  std::unique_ptr<PlacementServiceImpl> service_;
  // Before the services that query through it, so that it outlives them.
  std::unique_ptr<PrometheusClient> prometheus_;
  std::unique_ptr<KedaScaler> keda_;
  std::unique_ptr<AutoscalingServiceImpl> autoscaling_;
  // Before the servers that use them, so that they outlive them.
  std::unique_ptr<TlsReloader> grpc_tls_;    // null without --tls-cert
  std::unique_ptr<TlsReloader> http_tls_;    // null without --http-tls-cert
  std::unique_ptr<HttpServer> health_http_;  // null without --health-address
  int health_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<k8s::NodeCache> node_cache_;
  std::unique_ptr<k8s::NodeWatcher> node_watcher_;
  std::unique_ptr<Extender> extender_;
  HttpServer http_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shut_down_{false};
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_DAEMON_H_

#include "server/daemon.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <limits>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "config/yaml_reader.h"
#include "core/placement.h"
#include "core/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "k8s/node_cache.h"
#include "server/allocator.h"
#include "server/autoscaling_service.h"
#include "server/extender.h"
#include "server/grpc_bad_request.h"
#include "server/keda_scaler.h"
#include "server/memory_budget.h"
#include "server/placement_service.h"
#include "server/prometheus_client.h"
#include "server/reloader.h"
#include "server/tls_reloader.h"

namespace gpufit::server {
namespace {

using config::internal::AsAbsl;

constexpr std::string_view kVersion = GPUFIT_VERSION;  // project(VERSION) in CMakeLists.txt
// The health service name clients check besides the overall "" (grpc.health.v1).
constexpr char kServiceName[] = "gpufit.v1.PlacementService";

constexpr std::string_view kUsage =
    R"(gpufitd: the gpufit placement service (gRPC) with Prometheus metrics.

Usage: gpufitd [flags]

Flags (--flag=value and --flag value alike):
  --config FILE                 catalog overlay, optionally with `workloads:` (the operator's
                                workloads, exported as metrics); default: compiled-in catalog.
                                Reloaded on SIGHUP and when the file changes.
  --grpc-address HOST:PORT      gRPC listen address (default 0.0.0.0:50051; port 0 = any)
  --http-address HOST:PORT      /metrics, /healthz, /readyz (default 0.0.0.0:8080; port 0 = any)
  --log-level LEVEL             debug, info (default), warn or error; JSON lines on stderr
  --shutdown-grace-seconds N    time in-flight calls get on SIGTERM (default 10)
  --max-message-bytes N         largest request accepted (default 1048576)
  --reload-poll-seconds N       config and TLS file change check interval (default 2;
                                0 = SIGHUP only)
  --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]
                                TLS on the gRPC port (PEM); with a client CA, clients must
                                present a certificate it signed (mTLS)
  --http-tls-cert FILE --http-tls-key FILE [--http-tls-client-ca FILE]
                                HTTPS on the HTTP port (metrics, probes, extender), set apart
                                from --tls-* (give both the same files for one certificate);
                                with a client CA, clients (kube-scheduler's tlsConfig
                                certFile/keyFile, Prometheus) must present a certificate it
                                signed (mTLS)
                                TLS files are re-read on SIGHUP and every reload poll: a
                                changed, valid set serves new connections; an invalid one is
                                logged and the previous set stays in force
  --health-address HOST:PORT    plain HTTP /healthz and /readyz only (default: off), for
                                kubelet probes when the HTTP port requires client certificates
  --extender-prefix PATH        scheduler extender at POST PATH/filter and PATH/prioritize
                                on the HTTP port (default "" -> /filter, /prioritize)
  --extender-max-body-bytes N   largest extender request body (default 33554432); larger
                                ones get 413, refused from Content-Length before the body
                                is read
  --http-timeout-seconds N      HTTP whole-request deadline: TLS handshake, headers and body
                                of a request must arrive within it, or the connection is
                                closed; the answer's write gets as long again (default 10)
  --http-idle-timeout-seconds N how long an idle keep-alive connection stays open (default
                                120; keep it above the 90 s that Go clients such as
                                kube-scheduler keep idle connections)
  --http-max-connections N      HTTP connections open at once; more get 503 (default 512)
  --http-max-header-bytes N     request line and headers, in bytes; more get 431 (default
                                16384)
  --http-max-headers N          header lines per request; more get 431 (default 100)
  --http-body-budget-bytes N    bytes of request bodies held at once; a body that does not
                                fit waits up to 1 s, then gets 503 + Retry-After; requests
                                without a body (probes, scrapes) never wait (default
                                33554432; at least --extender-max-body-bytes)
  --kube-api-url URL            API server for the extender's node cache (list + watch of
                                nodes); default: in-cluster when KUBERNETES_SERVICE_HOST is
                                set, else no node cache
  --kube-token-file FILE        bearer token (default: the service-account token in cluster)
  --kube-ca-file FILE           CA for the API server (default: the service-account ca.crt)
  --keda-poll-seconds N         KEDA StreamIsActive: Prometheus poll interval (default 5)
  --prometheus-timeout-seconds N
                                the whole of one live-load query to Prometheus (connect,
                                TLS, request, answer), cut shorter by the caller's deadline
                                (default 5). Only servers the config's prometheus.servers
                                lists are queried.
  --grpc-max-in-flight N        unary gRPC calls served at once (default 32)
  --grpc-max-queued N           more calls waiting for a slot, each at most until its
                                deadline or 5 s (default 32); past that RESOURCE_EXHAUSTED
  --grpc-max-streams N          KEDA StreamIsActive streams open at once (default 256)
  --fleet-solve-seconds N       longest one PlanFleet call plans, whatever it asks (default 10)
  --http-threads N              HTTP POST handlers (extender calls) run at once (default 8)
  --http-max-queued N           more POSTs waiting for a thread (default 64); past that
                                POSTs get 503 + Retry-After (GETs are still answered)
  --memory-budget               print the memory budget these flags allow (the most
                                resident memory clients can make gpufitd hold) and exit
  --help, --version

Exit codes: 0 after a clean shutdown, 2 bad flags or config at startup, 1 internal error.
)";

struct FlagDef {
  std::string_view name;
  bool takes_value;
};
constexpr FlagDef kFlags[] = {
    {"config", true},
    {"grpc-address", true},
    {"http-address", true},
    {"log-level", true},
    {"shutdown-grace-seconds", true},
    {"max-message-bytes", true},
    {"reload-poll-seconds", true},
    {"tls-cert", true},
    {"tls-key", true},
    {"tls-client-ca", true},
    {"http-tls-cert", true},
    {"http-tls-key", true},
    {"http-tls-client-ca", true},
    {"health-address", true},
    {"extender-prefix", true},
    {"extender-max-body-bytes", true},
    {"http-timeout-seconds", true},
    {"http-idle-timeout-seconds", true},
    {"http-max-connections", true},
    {"http-max-header-bytes", true},
    {"http-max-headers", true},
    {"http-body-budget-bytes", true},
    {"kube-api-url", true},
    {"kube-token-file", true},
    {"kube-ca-file", true},
    {"keda-poll-seconds", true},
    {"prometheus-timeout-seconds", true},
    {"grpc-max-in-flight", true},
    {"grpc-max-queued", true},
    {"grpc-max-streams", true},
    {"fleet-solve-seconds", true},
    {"http-threads", true},
    {"http-max-queued", true},
    {"memory-budget", false},
    {"help", false},
    {"version", false},
};

absl::StatusOr<int> IntFlag(std::string_view flag, const std::string& value, int min) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", AsAbsl(flag), ": must be an integer >= ", min, "; got '", value, "'"));
  }
  return n;
}

absl::Status SetFlag(std::string_view name, const std::string& value, DaemonFlags* flags) {
  DaemonOptions& o = flags->options;
  if (name == "config") {
    if (value.empty()) return absl::InvalidArgumentError("--config: must not be empty");
    o.config_path = value;
  } else if (name == "grpc-address") {
    GPUFIT_RETURN_IF_ERROR(ParseHostPort(value, "--grpc-address").status());
    o.grpc_address = value;
  } else if (name == "http-address") {
    GPUFIT_RETURN_IF_ERROR(ParseHostPort(value, "--http-address").status());
    o.http_address = value;
  } else if (name == "log-level") {
    const std::optional<LogLevel> level = ParseLogLevel(value);
    if (!level.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--log-level: must be debug, info, warn or error; got '", value, "'"));
    }
    o.log_level = *level;
  } else if (name == "shutdown-grace-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.shutdown_grace_seconds, IntFlag(name, value, 0));
  } else if (name == "max-message-bytes") {
    GPUFIT_ASSIGN_OR_RETURN(o.max_message_bytes, IntFlag(name, value, 1));
  } else if (name == "reload-poll-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.reload_poll_seconds, IntFlag(name, value, 0));
  } else if (name == "tls-cert") {
    o.tls_cert_path = value;
  } else if (name == "tls-key") {
    o.tls_key_path = value;
  } else if (name == "tls-client-ca") {
    o.tls_client_ca_path = value;
  } else if (name == "http-tls-cert") {
    o.http_tls_cert_path = value;
  } else if (name == "http-tls-key") {
    o.http_tls_key_path = value;
  } else if (name == "http-tls-client-ca") {
    o.http_tls_client_ca_path = value;
  } else if (name == "health-address") {
    GPUFIT_RETURN_IF_ERROR(ParseHostPort(value, "--health-address").status());
    o.health_address = value;
  } else if (name == "extender-prefix") {
    if (!value.empty() && value.front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("--extender-prefix: must start with '/'; got '", value, "'"));
    }
    o.extender_prefix = value;
  } else if (name == "extender-max-body-bytes") {
    GPUFIT_ASSIGN_OR_RETURN(const int n, IntFlag(name, value, 1));
    o.extender_max_body_bytes = static_cast<size_t>(n);
  } else if (name == "http-timeout-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.http_timeout_seconds, IntFlag(name, value, 1));
  } else if (name == "http-idle-timeout-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.http_idle_timeout_seconds, IntFlag(name, value, 1));
  } else if (name == "http-max-connections") {
    GPUFIT_ASSIGN_OR_RETURN(o.http_max_connections, IntFlag(name, value, 1));
  } else if (name == "http-max-header-bytes") {
    // Below 1 KiB even kube-scheduler's and the kubelet's requests would not fit.
    GPUFIT_ASSIGN_OR_RETURN(o.http_max_header_bytes, IntFlag(name, value, 1024));
  } else if (name == "http-max-headers") {
    GPUFIT_ASSIGN_OR_RETURN(o.http_max_headers, IntFlag(name, value, 1));
  } else if (name == "http-body-budget-bytes") {
    GPUFIT_ASSIGN_OR_RETURN(const int n, IntFlag(name, value, 1));
    o.http_body_budget_bytes = static_cast<size_t>(n);
  } else if (name == "kube-api-url") {
    if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kube-api-url: must start with http:// or https://; got '", value, "'"));
    }
    o.kube_api_url = value;
  } else if (name == "kube-token-file") {
    o.kube_token_file = value;
  } else if (name == "kube-ca-file") {
    o.kube_ca_file = value;
  } else if (name == "keda-poll-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.keda_poll_seconds, IntFlag(name, value, 1));
  } else if (name == "prometheus-timeout-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.prometheus_timeout_seconds, IntFlag(name, value, 1));
  } else if (name == "grpc-max-in-flight") {
    GPUFIT_ASSIGN_OR_RETURN(o.grpc_max_in_flight, IntFlag(name, value, 1));
  } else if (name == "grpc-max-queued") {
    GPUFIT_ASSIGN_OR_RETURN(o.grpc_max_queued, IntFlag(name, value, 0));
  } else if (name == "grpc-max-streams") {
    GPUFIT_ASSIGN_OR_RETURN(o.grpc_max_streams, IntFlag(name, value, 1));
  } else if (name == "fleet-solve-seconds") {
    GPUFIT_ASSIGN_OR_RETURN(o.fleet_solve_seconds, IntFlag(name, value, 1));
  } else if (name == "http-threads") {
    GPUFIT_ASSIGN_OR_RETURN(o.http_threads, IntFlag(name, value, 1));
  } else if (name == "http-max-queued") {
    GPUFIT_ASSIGN_OR_RETURN(o.http_max_queued, IntFlag(name, value, 0));
  }
  return absl::OkStatus();
}

HttpLimits HttpLimitsOf(const DaemonOptions& o) {
  HttpLimits l;
  l.request_timeout = std::chrono::seconds(o.http_timeout_seconds);
  l.idle_timeout = std::chrono::seconds(o.http_idle_timeout_seconds);
  l.max_body_bytes = o.extender_max_body_bytes;
  l.max_header_bytes = static_cast<size_t>(o.http_max_header_bytes);
  l.max_headers = o.http_max_headers;
  l.max_connections = o.http_max_connections;
  // The server keeps simdjson's padding after each body: a body of the limit needs that much
  // more.
  l.body_budget_bytes =
      std::max(o.http_body_budget_bytes, o.extender_max_body_bytes + kHttpBodyPaddingBytes);
  return l;
}

// A wildcard listen host is not an address to dial; the serving line gives one that is.
std::string DialableHost(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") return "127.0.0.1";
  return host;
}

std::string Unbracket(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

double NowUnixSeconds() { return absl::ToUnixMillis(absl::Now()) / 1000.0; }

}  // namespace

std::string_view DaemonVersion() { return kVersion; }
std::string_view DaemonUsage() { return kUsage; }

absl::StatusOr<HostPort> ParseHostPort(std::string_view address, std::string_view flag) {
  const size_t colon = address.rfind(':');
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(flag), ": ", AsAbsl(why), "; got '", AsAbsl(address), "'"));
  };
  if (colon == std::string_view::npos) return bad("must be HOST:PORT");
  HostPort hp;
  hp.host = std::string(address.substr(0, colon));
  if (hp.host.empty()) return bad("must be HOST:PORT (HOST missing; 0.0.0.0 for all)");
  // An IPv6 literal needs brackets, or its own colons would be read as the port separator.
  if (hp.host.find(':') != std::string::npos && (hp.host.front() != '[' || hp.host.back() != ']')) {
    return bad("IPv6 hosts must be in brackets, e.g. [::1]:50051");
  }
  if (!absl::SimpleAtoi(AsAbsl(address.substr(colon + 1)), &hp.port) || hp.port < 0 ||
      hp.port > 65535) {
    return bad("PORT must be 0..65535");
  }
  return hp;
}

absl::StatusOr<DaemonFlags> ParseDaemonFlags(const std::vector<std::string>& args) {
  DaemonFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'; see 'gpufitd --help'"));
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const FlagDef* def = nullptr;
    for (const FlagDef& f : kFlags) {
      if (f.name == name) def = &f;
    }
    if (def == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '--", name, "'; see 'gpufitd --help'"));
    }
    if (!def->takes_value) {
      if (eq != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": takes no value"));
      }
      (name == "help"      ? flags.help
       : name == "version" ? flags.version
                           : flags.memory_budget) = true;
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value"));
    }
    GPUFIT_RETURN_IF_ERROR(SetFlag(name, value, &flags));
  }
  const DaemonOptions& o = flags.options;
  if (o.tls_cert_path.empty() != o.tls_key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
  }
  if (!o.tls_client_ca_path.empty() && o.tls_cert_path.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca: requires --tls-cert and --tls-key");
  }
  if (o.http_tls_cert_path.empty() != o.http_tls_key_path.empty()) {
    return absl::InvalidArgumentError("--http-tls-cert and --http-tls-key: give both or neither");
  }
  if (!o.http_tls_client_ca_path.empty() && o.http_tls_cert_path.empty()) {
    return absl::InvalidArgumentError(
        "--http-tls-client-ca: requires --http-tls-cert and --http-tls-key");
  }
  if (o.http_body_budget_bytes < o.extender_max_body_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-body-budget-bytes: must be at least --extender-max-body-bytes (",
                     o.extender_max_body_bytes, "), or the largest body could never be read; got ",
                     o.http_body_budget_bytes));
  }
  return flags;
}

std::vector<metrics::WorkloadRecommendation> RecommendWorkloads(
    const config::ServiceConfig& config) {
  std::vector<metrics::WorkloadRecommendation> out;
  for (const core::Workload& workload : config.workloads) {
    // Validated at load (ServiceConfig resolves every workload), so this cannot fail.
    absl::StatusOr<core::Decision> decision = core::PlaceWorkload(workload, *config.catalog);
    if (!decision.ok()) continue;
    metrics::WorkloadRecommendation r;
    r.workload = workload.name;
    r.accelerator = "none";
    if (const core::Option* best = decision->recommendation(); best != nullptr) {
      r.accelerator = best->accelerator->id;
      r.replicas = best->replicas;
      r.cost_usd_per_hour = best->cost_usd_per_hour;
      r.output_tokens_per_second = best->prediction.output_tokens_per_second * best->replicas;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Daemon::Daemon(DaemonOptions options, Logger* logger)
    : options_(std::move(options)),
      logger_(logger),
      metrics_(std::string(kVersion)),
      store_(std::make_shared<const config::ServiceConfig>(config::DefaultServiceConfig())) {}

Daemon::~Daemon() { Shutdown(); }

const FleetLanes& Daemon::fleet_lanes() const { return service_->fleet_lanes(); }

void Daemon::Install(std::shared_ptr<const config::ServiceConfig> config) {
  // Metrics first, so that calls on the new config find their children bound.
  metrics_.decisions().BindCatalog(config->catalog);
  metrics_.workloads().Set(RecommendWorkloads(*config));
  store_.Swap(std::move(config));
}

absl::Status Daemon::Start() {
  TuneAllocatorForLargeRequests();  // a large extender call's memory goes back when it is done
  // A peer that closes while gpufitd writes must fail that write, not end the process: the
  // HTTPS clients (node cache, Prometheus; cpp-httplib on OpenSSL) write with write(2),
  // which raises SIGPIPE. (Asio and gRPC write with MSG_NOSIGNAL.)
  std::signal(SIGPIPE, SIG_IGN);
  if (options_.config_path.empty()) {
    std::shared_ptr<const config::ServiceConfig> config = store_.Snapshot();
    Install(config);
    metrics_.config().ConfigLoaded(config->version, NowUnixSeconds(), /*reload=*/false);
  } else {
    reloader_ = std::make_unique<ConfigReloader>(
        options_.config_path, logger_, &metrics_.config(),
        [this](std::shared_ptr<const config::ServiceConfig> c) { Install(std::move(c)); });
    GPUFIT_RETURN_IF_ERROR(reloader_->LoadInitial());
  }
  GPUFIT_RETURN_IF_ERROR(StartGrpc());
  if (absl::Status s = StartHttp(); !s.ok()) {
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_.reset();
    return s;
  }
  StartNodeCache();
  ready_ = true;
  if (reloader_ != nullptr && options_.reload_poll_seconds > 0) {
    reloader_->StartPolling(std::chrono::seconds(options_.reload_poll_seconds));
  }
  for (TlsReloader* tls : {grpc_tls_.get(), http_tls_.get()}) {
    if (tls != nullptr && options_.reload_poll_seconds > 0) {
      tls->StartPolling(std::chrono::seconds(options_.reload_poll_seconds));
    }
  }
  const HostPort grpc_hp = *ParseHostPort(options_.grpc_address, "--grpc-address");
  const HostPort http_hp = *ParseHostPort(options_.http_address, "--http-address");
  const std::shared_ptr<const config::ServiceConfig> config = store_.Snapshot();
  const MemoryBudget budget = ComputeMemoryBudget(options_);
  if (const std::optional<double> limit = ContainerMemoryLimitBytes();
      limit.has_value() && budget.total_bytes > *limit) {
    logger_->Warn(
        "memory budget exceeds the container's memory limit: a hostile client could get "
        "gpufitd OOM-killed; raise the limit or lower --http-body-budget-bytes, "
        "--max-message-bytes, --grpc-max-in-flight/--grpc-max-queued or --http-max-connections "
        "(gpufitd --memory-budget shows each term)",
        {{"memory_budget_bytes", budget.total_bytes}, {"memory_limit_bytes", *limit}});
  }
  logger_->Info("serving",
                {{"grpc_address", absl::StrCat(DialableHost(grpc_hp.host), ":", grpc_port_)},
                 {"http_address", absl::StrCat(DialableHost(http_hp.host), ":", http_port_)},
                 {"catalog_version", config->version},
                 {"grpc_listen", absl::StrCat(grpc_hp.host, ":", grpc_port_)},
                 {"http_listen", absl::StrCat(http_hp.host, ":", http_port_)},
                 {"config", options_.config_path.empty() ? "(built-in)" : options_.config_path},
                 {"workloads", config->workloads.size()},
                 {"tls", options_.tls_cert_path.empty()
                             ? "off"
                             : (options_.tls_client_ca_path.empty() ? "tls" : "mtls")},
                 {"http_tls", options_.http_tls_cert_path.empty()
                                  ? "off"
                                  : (options_.http_tls_client_ca_path.empty() ? "tls" : "mtls")},
                 {"health_port", health_port_},
                 {"memory_budget_bytes", budget.total_bytes},
                 {"version", std::string(kVersion)}});
  return absl::OkStatus();
}

absl::Status Daemon::StartGrpc() {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options_.tls_cert_path.empty()) {
    // Certificate rotation: gRPC follows grpc_tls_ (server/tls_reloader.h).
    GPUFIT_ASSIGN_OR_RETURN(
        grpc_tls_, TlsReloader::Create(
                       "grpc",
                       {options_.tls_cert_path, options_.tls_key_path, options_.tls_client_ca_path,
                        "--tls-cert", "--tls-key", "--tls-client-ca"},
                       logger_, &metrics_.tls()));
    GPUFIT_ASSIGN_OR_RETURN(credentials, grpc_tls_->GrpcCredentials());
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  service_ = std::make_unique<PlacementServiceImpl>(&store_, &metrics_.grpc(),
                                                    &metrics_.decisions(), &metrics_.fleet());
  // One client for both services, so that Shutdown() can stop every query in flight.
  PrometheusClientOptions prometheus_options;
  prometheus_options.timeout_seconds = options_.prometheus_timeout_seconds;
  prometheus_ = std::make_unique<PrometheusClient>(prometheus_options);
  KedaScalerOptions keda_options;
  keda_options.poll_interval = std::chrono::seconds(options_.keda_poll_seconds);
  keda_options.query_timeout_seconds = options_.prometheus_timeout_seconds;
  keda_ = std::make_unique<KedaScaler>(&store_, &metrics_.keda(), keda_options,
                                       QueryFnOf(prometheus_.get()));
  autoscaling_ = std::make_unique<AutoscalingServiceImpl>(&store_, &metrics_.keda(),
                                                          QueryFnOf(prometheus_.get()));
  metrics::OverloadProbe* overload = &metrics_.overload();
  const auto listener = [overload](metrics::AdmissionServer server) {
    AdmissionListener l;
    l.changed = [overload, server](int in_flight, int queued) {
      overload->SetLoad(server, in_flight, queued);
    };
    l.shed = [overload, server](const char* reason) {
      overload->Shed(server, std::string_view(reason) == "queue_full"
                                 ? metrics::ShedReason::kQueueFull
                                 : metrics::ShedReason::kQueueTimeout);
    };
    return l;
  };
  grpc_admission_ = std::make_unique<Admission>(
      "grpc",
      AdmissionLimits{options_.grpc_max_in_flight, options_.grpc_max_queued,
                      std::chrono::milliseconds(options_.grpc_max_queue_wait_ms)},
      listener(metrics::AdmissionServer::kGrpc));
  stream_admission_ =
      std::make_unique<Admission>("grpc-streams", AdmissionLimits{options_.grpc_max_streams, 0, {}},
                                  listener(metrics::AdmissionServer::kGrpcStream));
  service_->set_admission(grpc_admission_.get());
  service_->set_fleet_solve_seconds(options_.fleet_solve_seconds);
  keda_->set_admission(grpc_admission_.get(), stream_admission_.get());
  autoscaling_->set_admission(grpc_admission_.get());
  grpc::ServerBuilder builder;
  // The backstop behind the admission limits: a sync gRPC server takes a thread per call
  // it runs (queued calls included), and with a quota it answers RESOURCE_EXHAUSTED itself
  // when out of threads instead of starting more. The margin is for health checks,
  // reflection and gRPC's own pollers.
  grpc::ResourceQuota quota("gpufitd");
  quota.SetMaxThreads(options_.grpc_max_in_flight + options_.grpc_max_queued +
                      options_.grpc_max_streams + 16);
  builder.SetResourceQuota(quota);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> i;
    i.push_back(BadRequestInterceptors());
    builder.experimental().SetInterceptorCreators(std::move(i));
  }
  // Without this a second gpufitd on the same port would silently share it (SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  // No compressed requests: gRPC 1.51 inflates a whole message before it compares the result
  // with the size limit (message_decompress_filter.cc), so 1 MB of gzip that inflates to 1 GiB
  // costs a GiB before it is refused. With gzip and deflate off, the call is refused from its
  // grpc-encoding header (UNIMPLEMENTED "Compression algorithm 'gzip' is disabled.") before
  // any message is read. Responses are not compressed either; requests are small.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.AddListeningPort(options_.grpc_address, credentials, &grpc_port_);
  builder.RegisterService(service_.get());
  builder.RegisterService(keda_.get());
  builder.RegisterService(autoscaling_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || grpc_port_ == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("--grpc-address: cannot listen on ", options_.grpc_address));
  }
  grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus("", true);
    health->SetServingStatus(kServiceName, true);
  }
  return absl::OkStatus();
}

void Daemon::StartNodeCache() {
  k8s::KubeApiOptions kube;
  if (!options_.kube_api_url.empty()) {
    kube.url = options_.kube_api_url;
    kube.token_file = options_.kube_token_file;
    kube.ca_file = options_.kube_ca_file;
  } else if (absl::StatusOr<k8s::KubeApiOptions> in_cluster = k8s::InClusterOptions();
             in_cluster.ok()) {
    kube = *in_cluster;
    if (!options_.kube_token_file.empty()) kube.token_file = options_.kube_token_file;
    if (!options_.kube_ca_file.empty()) kube.ca_file = options_.kube_ca_file;
  } else {
    logger_->Info("node cache off: not in a cluster and no --kube-api-url");
    return;
  }
  metrics::ExtenderProbe* probe = &metrics_.extender();
  k8s::NodeWatcherEvents events;
  events.watch_restarted = [probe] { probe->WatchRestarted(); };
  events.relisted = [this] {
    logger_->Info("node cache listed", {{"nodes", node_cache_->size()}});
  };
  events.error = [this](const std::string& message) {
    logger_->Warn("node cache", {{"error", message}});
  };
  node_watcher_ = std::make_unique<k8s::NodeWatcher>(kube, node_cache_.get(), std::move(events));
  node_watcher_->Start();
}

absl::Status Daemon::StartHttp() {
  if (!options_.http_tls_cert_path.empty()) {  // first: EnableTls() replaces the server
    GPUFIT_ASSIGN_OR_RETURN(
        http_tls_, TlsReloader::Create("http",
                                       {options_.http_tls_cert_path, options_.http_tls_key_path,
                                        options_.http_tls_client_ca_path, "--http-tls-cert",
                                        "--http-tls-key", "--http-tls-client-ca"},
                                       logger_, &metrics_.tls()));
    TlsReloader* tls = http_tls_.get();
    GPUFIT_RETURN_IF_ERROR(
        http_.EnableTls([tls](ssl_ctx_st* ctx) { return tls->ConfigureSslContext(ctx); }));
  }
  // The node cache exists (empty) from the start, so that NodeNames calls before the first
  // list answer "not in the node cache yet"; it is filled only if StartNodeCache() runs.
  const bool cache_wanted = !options_.kube_api_url.empty() || k8s::InClusterOptions().ok();
  if (cache_wanted) {
    node_cache_ = std::make_unique<k8s::NodeCache>();
    metrics::ExtenderProbe* probe = &metrics_.extender();
    node_cache_->SetSizeListener([probe](size_t n) { probe->SetCacheNodes(n); });
  }
  ExtenderOptions extender_options;
  extender_options.max_body_bytes = options_.extender_max_body_bytes;
  extender_ = std::make_unique<Extender>(&store_, node_cache_.get(), &metrics_.extender(),
                                         extender_options);
  extender_->Register(options_.extender_prefix, &http_);
  http_.SetLimits(HttpLimitsOf(options_));
  http_.SetProbe(&metrics_.http(), metrics::HttpListener::kHttp);
  {
    metrics::OverloadProbe* overload = &metrics_.overload();
    AdmissionListener l;
    l.changed = [overload](int in_flight, int queued) {
      overload->SetLoad(metrics::AdmissionServer::kHttp, in_flight, queued);
    };
    l.shed = [overload](const char*) {
      overload->Shed(metrics::AdmissionServer::kHttp, metrics::ShedReason::kQueueFull);
    };
    http_.SetConcurrency(AdmissionLimits{options_.http_threads, options_.http_max_queued, {}},
                         std::move(l));
  }
  http_.Get("/metrics", [this](const HttpRequest&) {
    return HttpResponse{200, metrics::kTextContentType, metrics_.Serialize()};
  });
  http_.Get("/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok"}; });
  http_.Get("/readyz", [this](const HttpRequest&) {
    return ready_ ? HttpResponse{200, "text/plain", "ready"}
                  : HttpResponse{503, "text/plain", "not ready"};
  });
  const HostPort hp = *ParseHostPort(options_.http_address, "--http-address");
  absl::StatusOr<int> port = http_.Start(Unbracket(hp.host), hp.port);
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrCat("--http-address: ", port.status().message()));
  }
  http_port_ = *port;
  if (absl::Status s = StartHealthHttp(); !s.ok()) {
    http_.Stop();
    return s;
  }
  return absl::OkStatus();
}

absl::Status Daemon::StartHealthHttp() {
  if (options_.health_address.empty()) return absl::OkStatus();
  health_http_ = std::make_unique<HttpServer>();
  HttpLimits limits = HttpLimitsOf(options_);
  // Kubelet probes: GETs without a body, one connection per probe.
  limits.max_body_bytes = 1024;
  limits.body_budget_bytes = 64 * 1024;
  limits.max_connections = std::min(limits.max_connections, 64);
  limits.io_threads = 1;
  health_http_->SetLimits(limits);
  health_http_->SetProbe(&metrics_.http(), metrics::HttpListener::kHealth);
  health_http_->Get("/healthz", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain", "ok"};
  });
  health_http_->Get("/readyz", [this](const HttpRequest&) {
    return ready_ ? HttpResponse{200, "text/plain", "ready"}
                  : HttpResponse{503, "text/plain", "not ready"};
  });
  const HostPort hp = *ParseHostPort(options_.health_address, "--health-address");
  absl::StatusOr<int> port = health_http_->Start(Unbracket(hp.host), hp.port);
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrCat("--health-address: ", port.status().message()));
  }
  health_port_ = *port;
  return absl::OkStatus();
}

bool Daemon::Reload() {
  // SIGHUP also re-reads the TLS files: a rotation need not wait for the poll.
  for (TlsReloader* tls : {grpc_tls_.get(), http_tls_.get()}) {
    if (tls != nullptr) tls->Check("SIGHUP");
  }
  if (reloader_ == nullptr) {
    logger_->Info("reload requested, but there is no --config file; nothing to reload");
    return false;
  }
  return reloader_->Reload("SIGHUP");
}

void Daemon::Shutdown() {
  if (shut_down_.exchange(true)) return;
  const bool was_serving = ready_.exchange(false);
  if (reloader_ != nullptr) reloader_->StopPolling();
  for (TlsReloader* tls : {grpc_tls_.get(), http_tls_.get()}) {
    if (tls != nullptr) tls->StopPolling();
  }
  if (node_watcher_ != nullptr) node_watcher_->Stop();
  if (grpc_server_ != nullptr) {
    logger_->Info("shutting down", {{"grace_seconds", options_.shutdown_grace_seconds}});
    if (grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService()) {
      health->SetServingStatus(false);
    }
    // StreamIsActive streams would otherwise run until the grace period cancels them.
    if (keda_ != nullptr) keda_->Shutdown();
    const std::chrono::seconds grace(options_.shutdown_grace_seconds);
    // A Prometheus query in flight may finish within the grace period, never later: gRPC
    // cancelling the call at the deadline would wait for its handler, and so for the query.
    if (prometheus_ != nullptr) prometheus_->ShutdownBy(std::chrono::steady_clock::now() + grace);
    // In-flight calls finish; after the grace period the rest are cancelled.
    grpc_server_->Shutdown(std::chrono::system_clock::now() + grace);
    grpc_server_->Wait();
  }
  // Both at once: each lets requests under way finish, for up to --http-timeout-seconds.
  std::thread health_stop;
  if (health_http_ != nullptr) health_stop = std::thread([this] { health_http_->Stop(); });
  http_.Stop();
  if (health_stop.joinable()) health_stop.join();
  if (was_serving) logger_->Info("stopped");
}

}  // namespace gpufit::server

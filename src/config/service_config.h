// The daemon's configuration (gpufitd --config FILE): a catalog overlay in the catalog file
// format (config/catalog_loader.h) that may also list `workloads:` in the workload file
// format (config/workload_loader.h). The workloads are the operator's own; the daemon places
// them at every (re)load and exports the results as per-workload metrics.
//
//   version: "prod-2026-11"
//   prices: {l4: 0.70}
//   prometheus:                         # optional: the only Prometheus servers gpufitd queries
//     servers: [http://prometheus.monitoring:9090]   # the first is the default
//   workloads:
//     - name: chat
//       model: llama-3-8b
//       traffic: {concurrency: 50}
//       autoscaling:                      # optional: live-load replicas (Recommend RPC)
//         prometheus_url: http://prometheus.monitoring:9090   # default: prometheus.servers[0]
//         query: sum(vllm:num_requests_running{model_name="llama-3-8b"})
//         accelerator: l4                 # what the workload's Deployment runs on
//         gpus: 1                         # GPUs per replica; default 1
//         scale_down_stabilization_seconds: 300   # default 300, the HPA's
//
// `prometheus.servers` is an allow-list (config/prometheus_url.h): a KEDA trigger's
// serverAddress and a workload's autoscaling.prometheus_url must name one of its servers, and
// either defaults to the first when omitted. Without it gpufitd queries no Prometheus at all.
//
// Each workload must have a unique `name` (it is the metric label) and must resolve against
// the catalog the same file builds. Errors read "FILE:LINE: field.path: reason", e.g.
// "gpufitd.yaml:7: workloads[1].traffic.concurrency: must be > 0".
#ifndef GPUFIT_CONFIG_SERVICE_CONFIG_H_
#define GPUFIT_CONFIG_SERVICE_CONFIG_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/catalog.h"
#include "core/workload.h"

namespace gpufit::config {

// A workload's `autoscaling:` block: where its live load comes from and what it runs on, for
// desired replicas = ceil(load / per-replica target) (server/autoscaling_service.h).
struct WorkloadAutoscaling {
  // Base URL of the Prometheus API: the prometheus.servers entry it names, as written there.
  std::string prometheus_url;
  std::string query;        // PromQL giving the requests in flight (one series or scalar)
  std::string accelerator;  // catalog id (checked at load)
  int gpus = 1;             // GPUs per replica
  // The HPA's default behavior.scaleDown.stabilizationWindowSeconds.
  double scale_down_stabilization_seconds = 300;
};

// Immutable once loaded; shared between threads by std::shared_ptr<const ServiceConfig>.
// Decisions point into `catalog`, so a reader keeps the whole config alive while it uses one.
struct ServiceConfig {
  std::shared_ptr<const core::Catalog> catalog;
  std::vector<core::Workload> workloads;  // in file order; names unique; each resolves
  std::string version;                    // = catalog->version(): "<version>+<hash>"
  // By workload name, for the workloads with an `autoscaling:` block.
  std::map<std::string, WorkloadAutoscaling> autoscaling;
  // prometheus.servers: the Prometheus base URLs gpufitd may query, as written (each valid,
  // no two naming the same server); the first is the default. Empty = none.
  std::vector<std::string> prometheus_servers;
};

// The compiled-in catalog and no workloads (gpufitd without --config).
ServiceConfig DefaultServiceConfig();

// `filename` is used in error messages only.
absl::StatusOr<ServiceConfig> ParseServiceConfig(std::string_view yaml_text,
                                                 std::string_view filename);
// Reads `path` (internal::ReadFileToString: a regular file within the size cap) and calls
// ParseServiceConfig. NOT_FOUND if the file cannot be read (missing, not a regular file, too
// large).
absl::StatusOr<ServiceConfig> LoadServiceConfigFile(const std::string& path);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_SERVICE_CONFIG_H_

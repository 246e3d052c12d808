// The daemon's configuration (gpufitd --config FILE): a catalog overlay in the catalog file
// format (config/catalog_loader.h) that may also list `workloads:` in the workload file
// format (config/workload_loader.h). The workloads are the operator's own; the daemon places
// them at every (re)load and exports the results as per-workload metrics.
//
//   version: "prod-2026-11"
//   prices: {l4: 0.70}
//   workloads:
//     - name: chat
//       model: llama-3-8b
//       traffic: {concurrency: 50}
//       autoscaling:                      # optional: live-load replicas (Recommend RPC)
//         prometheus_url: http://prometheus:9090
//         query: sum(vllm:num_requests_running{model_name="llama-3-8b"})
//         accelerator: l4                 # what the workload's Deployment runs on
//         gpus: 1                         # GPUs per replica; default 1
//         scale_down_stabilization_seconds: 300   # default 300, the HPA's
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
  std::string prometheus_url;  // http:// or https:// base URL of the Prometheus API
  std::string query;           // PromQL giving the requests in flight (one series or scalar)
  std::string accelerator;     // catalog id (checked at load)
  int gpus = 1;                // GPUs per replica
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
};

// The compiled-in catalog and no workloads (gpufitd without --config).
ServiceConfig DefaultServiceConfig();

// `filename` is used in error messages only.
absl::StatusOr<ServiceConfig> ParseServiceConfig(std::string_view yaml_text,
                                                 std::string_view filename);
// Reads `path` and calls ParseServiceConfig. NOT_FOUND if the file cannot be read.
absl::StatusOr<ServiceConfig> LoadServiceConfigFile(const std::string& path);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_SERVICE_CONFIG_H_

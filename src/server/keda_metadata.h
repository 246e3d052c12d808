// The KEDA trigger metadata gpufit's external scaler reads (ScaledObjectRef.scalerMetadata;
// the keys are a documented contract, docs/keda.md), and the per-replica
// target it implies. Pure: no I/O; the same metadata and config give the same answer.
//
//   workload            a workload name in gpufitd's config, or inline instead:
//   model, precision, inputTokens, outputTokens, maxContextTokens, ttftMs, tpotMs
//   accelerator         (required) the accelerator id the scaled Deployment runs on
//   gpus                GPUs per replica (tensor-parallel degree); default 1
//   query               PromQL for the live load (requests in flight). Without it the
//                       load is the workload's configured traffic.concurrency (a
//                       `workload` only).
//   serverAddress       the Prometheus to run `query` on: one of prometheus.servers in
//                       gpufitd's config (config/prometheus_url.h), which is what is dialled;
//                       default the first of them. Any other server is INVALID_ARGUMENT
//                       naming this key, and gpufitd connects nowhere.
//   activationThreshold IsActive is load > this; default 0
// KEDA passes every trigger key, so its own (scalerAddress, TLS settings) are accepted and
// ignored. Any other key, or a bad value, is INVALID_ARGUMENT naming the key:
// "scalerMetadata.tpotMs: must be a number > 0; got 'fast'".
#ifndef GPUFIT_SERVER_KEDA_METADATA_H_
#define GPUFIT_SERVER_KEDA_METADATA_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "core/workload.h"

namespace gpufit::server {

struct ScalerTarget {
  std::string metric_name;    // "gpufit-<workload or model>-concurrency"
  std::string workload_name;  // the configured workload's name; empty for inline
  core::Workload workload;    // the configured one, or built from the inline keys
  std::string accelerator;    // a catalog id (checked)
  int gpus = 1;
  // The prometheus.servers entry to query, as the config writes it; empty: the load is
  // `configured_load`.
  std::string server_address;
  std::string query;
  double configured_load = 0;  // the workload's traffic.concurrency when there is no query
  double activation_threshold = 0;
};

// Errors: INVALID_ARGUMENT "scalerMetadata.KEY: reason" for unknown keys, bad values, an
// unknown workload or accelerator, and a workload that does not resolve.
absl::StatusOr<ScalerTarget> ParseScalerMetadata(const std::map<std::string, std::string>& metadata,
                                                 const config::ServiceConfig& config);

// The per-replica target: the largest concurrency one replica of `workload` on `accelerator`
// with `gpus` GPUs sustains within the SLO and memory (core::PredictOption's max_concurrency,
// as `gpufit predict` shows it). FAILED_PRECONDITION if that configuration cannot serve the
// workload at all (with the reason), INVALID_ARGUMENT / NOT_FOUND from resolution.
absl::StatusOr<double> PerReplicaTarget(const core::Workload& workload,
                                        const std::string& accelerator, int gpus,
                                        const config::ServiceConfig& config);

// "gpufit-<name>-concurrency" with `name` lower-cased and every character outside [a-z0-9-]
// replaced by '-' (KEDA and the HPA need a DNS-1123-like metric name).
std::string ScalerMetricName(const std::string& name);

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_KEDA_METADATA_H_

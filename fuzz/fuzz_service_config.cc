// gpufitd's config file (--config): config::ParseServiceConfig, i.e. the catalog overlay plus
// `workloads:` with their `autoscaling:` blocks, each workload resolved against the catalog
// the file builds; then every accepted workload is placed, as the daemon does at each reload.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/service_config.h"
#include "core/placement.h"
#include "core/resolved_workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<gpufit::config::ServiceConfig> config =
      gpufit::config::ParseServiceConfig(text, "gpufitd.yaml");
  if (!config.ok()) return 0;
  for (const gpufit::core::Workload& workload : config->workloads) {
    absl::StatusOr<gpufit::core::ResolvedWorkload> resolved =
        gpufit::core::ResolveWorkload(workload, *config->catalog);
    if (resolved.ok()) gpufit::core::Place(*resolved, *config->catalog);
  }
  return 0;
}

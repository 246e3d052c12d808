// Workload YAML: config::ParseWorkloadYaml, then core::ResolveWorkload and core::Place
// against the default catalog.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/catalog_loader.h"
#include "config/workload_loader.h"
#include "core/placement.h"
#include "core/resolved_workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* catalog =
      new std::shared_ptr<const gpufit::core::Catalog>(gpufit::config::DefaultCatalog());
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<gpufit::core::Workload> workload =
      gpufit::config::ParseWorkloadYaml(text, "fuzz.yaml");
  if (!workload.ok()) return 0;
  absl::StatusOr<gpufit::core::ResolvedWorkload> resolved =
      gpufit::core::ResolveWorkload(*workload, **catalog);
  if (!resolved.ok()) return 0;
  gpufit::core::Place(*resolved, **catalog);
  return 0;
}

// Catalog overlay YAML (`gpufit --catalog FILE`): config::LoadCatalogOverlay; an accepted
// catalog then places a fixed workload, so that odd but valid catalogs reach the core.
// gpufitd's config (the overlay plus `workloads:`) is fuzz_service_config's.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/catalog_loader.h"
#include "config/workload_loader.h"
#include "core/placement.h"
#include "core/resolved_workload.h"

namespace {
constexpr std::string_view kWorkload = R"(
model: llama-3-8b
precision: fp8
traffic: {concurrency: 20, input_tokens: 512, output_tokens: 256}
slo: {ttft_ms: 2000, tpot_ms: 100}
)";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* workload =
      new gpufit::core::Workload(*gpufit::config::ParseWorkloadYaml(kWorkload, "w.yaml"));
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::shared_ptr<const gpufit::core::Catalog>> catalog =
      gpufit::config::LoadCatalogOverlay(text, "fuzz.yaml");
  if (!catalog.ok()) return 0;
  absl::StatusOr<gpufit::core::ResolvedWorkload> resolved =
      gpufit::core::ResolveWorkload(*workload, **catalog);
  if (!resolved.ok()) return 0;
  gpufit::core::Place(*resolved, **catalog);
  return 0;
}

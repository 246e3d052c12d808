// Fleet YAML (`gpufit fleet FILE`): config::ParseFleetYaml, then core::BuildFleetProblem
// against the default catalog, i.e. every check and the capacity model of PlanFleet without
// the CBC solve (milliseconds per call). Relative `vllm_bench:` paths resolve nowhere.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "config/catalog_loader.h"
#include "config/fleet_loader.h"
#include "core/fleet_planner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* catalog =
      new std::shared_ptr<const gpufit::core::Catalog>(gpufit::config::DefaultCatalog());
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<gpufit::core::FleetRequest> fleet =
      gpufit::config::ParseFleetYaml(text, "fleet.yaml", "/nonexistent-gpufit-fuzz");
  if (!fleet.ok()) return 0;
  gpufit::core::BuildFleetProblem(*fleet, **catalog).IgnoreError();
  return 0;
}

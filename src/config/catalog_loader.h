// Reads catalog files (accelerators, MIG profiles, prices, model presets, policy) into a
// validated core::Catalog. The compiled-in default is configs/catalog.yaml; a user file is
// an overlay on it: entries with an existing id override the fields they set, new ids are
// added, `prices:` overrides $/hour by accelerator id, `policy:` overrides constants.
// Errors read "FILE:LINE: field.path: reason".
//
// Overlay details:
//  - A new accelerator must set display_name, architecture, memory_gib,
//    memory_bandwidth_gbps, fp16_tflops, fp8_tflops (0 = none), int8_tops, tdp_watts,
//    nvlink_gbps (0 = none) and price_usd_per_hour; a new preset display_name, task and
//    architecture.parameters_billion. An existing entry may set any subset.
//  - `mig_profiles:` and `measured_rates:` replace the whole list (`[]` turns MIG off).
//  - `prices:` applies after `accelerators:`, so it wins when both price one GPU. MIG
//    slices take no price of their own: core::MakeMigSlice derives it from the parent.
//  - Unknown keys, null values, wrong types, NaN/Inf and out-of-range numbers are errors
//    (INVALID_ARGUMENT); Catalog::Create's own checks come back prefixed with "FILE: ".
//  - The resulting version is "<version field>+<hash of default text and overlay text>".
#ifndef GPUFIT_CONFIG_CATALOG_LOADER_H_
#define GPUFIT_CONFIG_CATALOG_LOADER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/catalog.h"

namespace gpufit::config {

// The compiled-in catalog (configs/catalog.yaml embedded at build time). Parsed once.
std::shared_ptr<const core::Catalog> DefaultCatalog();

// Which top-level keys an overlay may have. kAllowWorkloads is for the daemon's config file
// (config/service_config.h), which is an overlay plus `workloads:` and `prometheus:`, which
// the catalog loader accepts without reading, so that both files share one parser.
enum class TopLevelKeys { kCatalogOnly, kAllowWorkloads };

// Default catalog overlaid with `yaml_text`; `filename` is used in error messages only.
absl::StatusOr<std::shared_ptr<const core::Catalog>> LoadCatalogOverlay(
    std::string_view yaml_text, std::string_view filename,
    TopLevelKeys keys = TopLevelKeys::kCatalogOnly);
// Reads `path` and calls LoadCatalogOverlay. NOT_FOUND if the file cannot be read.
absl::StatusOr<std::shared_ptr<const core::Catalog>> LoadCatalogFile(const std::string& path);

// A stable short hash of the catalog text in force (for the config-info metric / `catalog`).
std::string CatalogVersion(std::string_view yaml_text);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_CATALOG_LOADER_H_

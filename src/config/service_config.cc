#include "config/service_config.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/catalog_loader.h"
#include "config/workload_loader.h"
#include "config/yaml_reader.h"
#include "core/resolved_workload.h"
#include "core/status_macros.h"

namespace gpufit::config {
namespace {

using internal::AsAbsl;
using internal::FieldPath;
using internal::IndexPath;
using internal::YamlReader;

}  // namespace

ServiceConfig DefaultServiceConfig() {
  ServiceConfig config;
  config.catalog = DefaultCatalog();
  config.version = config.catalog->version();
  return config;
}

absl::StatusOr<ServiceConfig> ParseServiceConfig(std::string_view yaml_text,
                                                 std::string_view filename) {
  ServiceConfig config;
  // The catalog part first: the workloads resolve against it.
  GPUFIT_ASSIGN_OR_RETURN(config.catalog,
                          LoadCatalogOverlay(yaml_text, filename, TopLevelKeys::kAllowWorkloads));
  config.version = config.catalog->version();

  const YamlReader r(filename);
  GPUFIT_ASSIGN_OR_RETURN(const YAML::Node root, r.ParseTopLevelMap(yaml_text, "config"));
  const YAML::Node workloads = root["workloads"];  // const: the lookup must not insert
  if (!workloads.IsDefined()) return config;
  if (workloads.IsNull()) return r.Error(workloads, "workloads", "has no value");
  GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(workloads, "workloads"));

  std::set<std::string> names;
  for (size_t i = 0; i < workloads.size(); ++i) {
    const YAML::Node entry = workloads[i];
    const std::string path = IndexPath("workloads", i);
    GPUFIT_ASSIGN_OR_RETURN(core::Workload workload, internal::ReadWorkload(r, entry, path));
    if (workload.name.empty()) {
      return r.Error(entry, FieldPath(path, "name"), "required (it labels the workload's metrics)");
    }
    if (!names.insert(workload.name).second) {
      return r.Error(entry["name"], FieldPath(path, "name"),
                     absl::StrCat("duplicate workload name '", workload.name, "'"));
    }
    // Semantic checks (model and accelerator ids against this catalog); the core's message
    // already leads with the field path, so add only where the entry starts.
    absl::StatusOr<core::ResolvedWorkload> resolved =
        core::ResolveWorkload(workload, *config.catalog, path);
    if (!resolved.ok()) {
      return absl::Status(resolved.status().code(),
                          absl::StrCat(AsAbsl(filename), ":", entry.Mark().line + 1, ": ",
                                       resolved.status().message()));
    }
    config.workloads.push_back(std::move(workload));
  }
  return config;
}

absl::StatusOr<ServiceConfig> LoadServiceConfigFile(const std::string& path) {
  GPUFIT_ASSIGN_OR_RETURN(const std::string text, internal::ReadFileToString(path));
  return ParseServiceConfig(text, path);
}

}  // namespace gpufit::config

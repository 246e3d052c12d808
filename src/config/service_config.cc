#include "config/service_config.h"

#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/catalog_loader.h"
#include "config/prometheus_url.h"
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

// The `prometheus:` section: `servers`, each a valid URL, no two naming the same server.
absl::StatusOr<std::vector<std::string>> ReadPrometheus(const YamlReader& r,
                                                        const YAML::Node& node) {
  std::vector<std::string> servers;
  GPUFIT_RETURN_IF_ERROR(r.ExpectMap(node, "prometheus"));
  GPUFIT_RETURN_IF_ERROR(r.ForEachField(
      node, "prometheus", {"servers"},
      [&](std::string_view, const YAML::Node& value, const std::string& field) -> absl::Status {
        GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(value, field));
        std::vector<std::string> canonical;
        for (size_t i = 0; i < value.size(); ++i) {
          const std::string path = IndexPath(field, i);
          GPUFIT_ASSIGN_OR_RETURN(std::string server, r.String(value[i], path));
          absl::StatusOr<PrometheusUrl> url = ParsePrometheusUrl(server);
          if (!url.ok()) return r.Error(value[i], path, std::string(url.status().message()));
          for (size_t j = 0; j < canonical.size(); ++j) {
            if (canonical[j] == url->Canonical()) {
              return r.Error(value[i], path,
                             absl::StrCat("the same server as ", IndexPath(field, j)));
            }
          }
          canonical.push_back(url->Canonical());
          servers.push_back(std::move(server));
        }
        return absl::OkStatus();
      }));
  return servers;
}

// A workload entry's `autoscaling:` block at `path` ("workloads[2].autoscaling").
// `prometheus_servers` is the allow-list its prometheus_url must be on (and defaults to).
absl::StatusOr<WorkloadAutoscaling> ReadAutoscaling(
    const YamlReader& r, const YAML::Node& node, const std::string& path,
    const core::Catalog& catalog, const std::vector<std::string>& prometheus_servers) {
  WorkloadAutoscaling a;
  GPUFIT_RETURN_IF_ERROR(r.ExpectMap(node, path));
  GPUFIT_RETURN_IF_ERROR(r.ForEachField(
      node, path,
      {"prometheus_url", "query", "accelerator", "gpus", "scale_down_stabilization_seconds"},
      [&](std::string_view key, const YAML::Node& value, const std::string& field) -> absl::Status {
        if (key == "prometheus_url") {
          GPUFIT_ASSIGN_OR_RETURN(const std::string url, r.String(value, field));
          absl::StatusOr<std::string> allowed = MatchPrometheusServer(prometheus_servers, url);
          if (!allowed.ok()) return r.Error(value, field, std::string(allowed.status().message()));
          a.prometheus_url = *std::move(allowed);
        } else if (key == "query") {
          GPUFIT_ASSIGN_OR_RETURN(a.query, r.String(value, field));
        } else if (key == "accelerator") {
          GPUFIT_ASSIGN_OR_RETURN(a.accelerator, r.String(value, field));
          if (catalog.FindAccelerator(a.accelerator) == nullptr) {
            return r.Error(value, field, absl::StrCat("unknown accelerator '", a.accelerator, "'"));
          }
        } else if (key == "gpus") {
          GPUFIT_ASSIGN_OR_RETURN(a.gpus, r.Integer(value, field, 1));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(a.scale_down_stabilization_seconds,
                                  r.Number(value, field, internal::Bound::kNonNegative));
        }
        return absl::OkStatus();
      }));
  if (a.prometheus_url.empty()) {
    if (prometheus_servers.empty()) {
      return r.Error(node, FieldPath(path, "prometheus_url"),
                     "required: list the Prometheus server under prometheus.servers (the "
                     "first is the default)");
    }
    a.prometheus_url = prometheus_servers.front();
  }
  for (const auto& [key, present] : {std::pair<const char*, bool>{"query", !a.query.empty()},
                                     {"accelerator", !a.accelerator.empty()}}) {
    if (!present) return r.Error(node, FieldPath(path, key), "required");
  }
  return a;
}

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
  // Before the workloads: their autoscaling.prometheus_url must be on this list.
  if (const YAML::Node prometheus = root["prometheus"]; prometheus.IsDefined()) {
    GPUFIT_ASSIGN_OR_RETURN(config.prometheus_servers, ReadPrometheus(r, prometheus));
  }
  const YAML::Node workloads = root["workloads"];  // const: the lookup must not insert
  if (!workloads.IsDefined()) return config;
  if (workloads.IsNull()) return r.Error(workloads, "workloads", "has no value");
  GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(workloads, "workloads"));

  std::set<std::string> names;
  for (size_t i = 0; i < workloads.size(); ++i) {
    const YAML::Node entry = workloads[i];
    const std::string path = IndexPath("workloads", i);
    // `autoscaling:` is the daemon's addition to the workload format: read here, and left
    // out of the map the workload fields are read from. That map is a new node holding
    // `entry`'s own value nodes, so their line numbers stay in error messages (YAML::Clone
    // drops them, and assigning to a copy of `entry` would rewrite `entry` itself).
    YAML::Node stripped(YAML::NodeType::Map);
    std::optional<WorkloadAutoscaling> autoscaling;
    if (entry.IsMap() && entry["autoscaling"].IsDefined()) {
      GPUFIT_ASSIGN_OR_RETURN(
          autoscaling, ReadAutoscaling(r, entry["autoscaling"], FieldPath(path, "autoscaling"),
                                       *config.catalog, config.prometheus_servers));
      for (const auto& field : entry) {
        if (field.first.Scalar() != "autoscaling") {
          stripped[field.first.Scalar()] = field.second;
        }
      }
    }
    GPUFIT_ASSIGN_OR_RETURN(
        core::Workload workload,
        internal::ReadWorkload(r, autoscaling.has_value() ? stripped : entry, path));
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
    if (autoscaling.has_value()) config.autoscaling[workload.name] = *std::move(autoscaling);
    config.workloads.push_back(std::move(workload));
  }
  return config;
}

absl::StatusOr<ServiceConfig> LoadServiceConfigFile(const std::string& path) {
  GPUFIT_ASSIGN_OR_RETURN(const std::string text, internal::ReadFileToString(path));
  return ParseServiceConfig(text, path);
}

}  // namespace gpufit::config

// Reads workload YAML (the contract format of docs/workload-format.md) into core::Workload.
// Unknown keys, wrong types and out-of-range values are errors that read
// "FILE:LINE: field.path: reason" (e.g. "chat.yaml:7: traffic.concurrency: must be > 0").
// Semantic checks against the catalog (unknown model id, accelerator) happen in
// core::ResolveWorkload, which names the field path too.
#ifndef GPUFIT_CONFIG_WORKLOAD_LOADER_H_
#define GPUFIT_CONFIG_WORKLOAD_LOADER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/workload.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace gpufit::config {

absl::StatusOr<core::Workload> ParseWorkloadYaml(std::string_view yaml_text,
                                                 std::string_view filename);
absl::StatusOr<core::Workload> LoadWorkloadFile(const std::string& path);

// True if the YAML document looks like a catalog (has accelerators/presets/prices/policy
// at top level) rather than a workload; used by `gpufit validate`.
bool LooksLikeCatalog(std::string_view yaml_text);

namespace internal {
class YamlReader;
// Reads one workload mapping at `path` ("" for a workload file's root, "workloads[2]" for an
// entry of the daemon's config file); the field parsing behind ParseWorkloadYaml.
absl::StatusOr<core::Workload> ReadWorkload(const YamlReader& reader, const YAML::Node& node,
                                            std::string_view path);
}  // namespace internal

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_WORKLOAD_LOADER_H_

// KEDA trigger metadata: lines "key=value" -> server::ParseScalerMetadata, then
// PerReplicaTarget for an accepted target.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "config/service_config.h"
#include "server/keda_metadata.h"

namespace {
const gpufit::config::ServiceConfig* Config() {
  absl::StatusOr<gpufit::config::ServiceConfig> c =
      gpufit::config::ParseServiceConfig(R"(
workloads:
  - name: chat
    model: llama-3-8b
    precision: fp8
    traffic: {concurrency: 50, input_tokens: 512, output_tokens: 256, max_context_tokens: 8192}
    slo: {ttft_ms: 2000, tpot_ms: 100}
  - name: idle
    model: llama-3-8b
    traffic: {tokens_per_second: 100}
)",
                                         "gpufitd.yaml");
  return new gpufit::config::ServiceConfig(*c);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gpufit::config::ServiceConfig* config = Config();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> metadata;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    const size_t eq = line.find('=');
    metadata[std::string(line.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  absl::StatusOr<gpufit::server::ScalerTarget> target =
      gpufit::server::ParseScalerMetadata(metadata, *config);
  if (!target.ok()) return 0;
  gpufit::server::PerReplicaTarget(target->workload, target->accelerator, target->gpus, *config)
      .IgnoreError();
  return 0;
}

// Capacity measurements: vLLM `bench serve --save-result` JSON (config::ParseVllmBenchResult)
// and fleet files (config::ParseFleetYaml; relative vllm_bench paths resolve nowhere).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/fleet_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gpufit::config::ParseVllmBenchResult(text, "bench.json").IgnoreError();
  gpufit::config::ParseFleetYaml(text, "fleet.yaml", "/nonexistent-gpufit-fuzz").IgnoreError();
  return 0;
}

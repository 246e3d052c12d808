// Capacity measurements: vLLM `bench serve --save-result` JSON (config::ParseVllmBenchResult),
// the files a fleet file's `measured: [{vllm_bench: FILE}]` names. Fleet files themselves are
// fuzz_fleet's.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/fleet_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gpufit::config::ParseVllmBenchResult(text, "bench.json").IgnoreError();
  return 0;
}

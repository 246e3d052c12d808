// vLLM bench result reading (fixtures: newline-separated runs, NaN/Infinity, goodput keys).
#include "config/fleet_loader.h"

#include <string>

#include "config/yaml_reader.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

TEST(VllmBenchTest, ReadsFixtureGoodputAndConcurrency) {
  const std::string path =
      std::string(GPUFIT_SHARED_DIR) +
      "/fixtures/benchmarks/"
      "vllm-infqps-concurrency32-Meta-Llama-3-8B-Instruct-FP8-20260914-092411.json";
  absl::StatusOr<std::string> text = internal::ReadFileToString(path);
  ASSERT_TRUE(text.ok());
  absl::StatusOr<VllmBenchCapacity> cap = ParseVllmBenchResult(*text, path);
  ASSERT_TRUE(cap.ok()) << cap.status();
  EXPECT_NEAR(cap->requests_per_second, 2.32, 0.01);
  EXPECT_GT(cap->concurrency, 20);
  EXPECT_LT(cap->concurrency, 32);
}

TEST(VllmBenchTest, TolerantReader) {
  const std::string text =
      "{\"request_throughput\": 2.0, \"burstiness\": Infinity, \"x\": NaN, \"label\": \"NaN\","
      " \"max_concurrency\": 16, \"request_goodput\": null}\n"
      "{\"request_throughput\": 3.0, \"request_goodput:\": 2.5, \"max_concurrency\": 32}";
  absl::StatusOr<VllmBenchCapacity> cap = ParseVllmBenchResult(text, "f.json");
  ASSERT_TRUE(cap.ok()) << cap.status();
  EXPECT_EQ(cap->runs, 2);
  EXPECT_DOUBLE_EQ(cap->requests_per_second, 2.5);
  EXPECT_NEAR(cap->concurrency, 32 * 2.5 / 3.0, 1e-9);
  EXPECT_FALSE(ParseVllmBenchResult("{\"duration\": 1}", "g.json").ok());
  EXPECT_FALSE(ParseVllmBenchResult("not json", "h.json").ok());
}

}  // namespace
}  // namespace gpufit::config

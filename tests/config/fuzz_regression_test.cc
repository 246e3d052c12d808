// Regressions found by fuzzing (fuzz/CAMPAIGN.md), as the YAML inputs that reach the same code.
// 1. Fleet capacities off by dozens of orders of magnitude used to convert a replica count
//    beyond INT_MAX to int (UBSan in fuzz_proto); now they are clear errors, or the choice is
//    dropped when the model's own capacity is the cause.
// 2. An inline architecture with a huge hidden_size overflowed int in 4 x hidden_size (the
//    derived MLP width); widths are now bounded.
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "config/catalog_loader.h"
#include "config/fleet_loader.h"
#include "config/workload_loader.h"
#include "core/fleet_planner.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

absl::Status Build(const std::string& yaml) {
  absl::StatusOr<core::FleetRequest> fleet = ParseFleetYaml(yaml, "fleet.yaml", "/nonexistent");
  if (!fleet.ok()) return fleet.status();
  return core::BuildFleetProblem(*fleet, *DefaultCatalog()).status();
}

TEST(FleetFuzzRegressionTest, TinyMeasuredConcurrencyIsAnErrorNamingTheMeasurement) {
  // fuzz/corpus/fuzz_proto/regression-measured-tiny-capacity.bin, as a fleet file.
  const absl::Status status = Build(R"(
accelerators: [l4, a100-80gb]
workloads:
  - name: chat
    model: llama-3-8b
    precision: fp8
    traffic: {concurrency: 50, input_tokens: 512, output_tokens: 256}
    slo: {tpot_ms: 100}
measured:
  - {workload: chat, accelerator: l4, requests_per_second: 4.2, concurrency: 5.1e-56}
)");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), "measured[0]: ")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "check the units")) << status;
}

TEST(FleetFuzzRegressionTest, TinyMeasuredBucketCapacityIsAnError) {
  const absl::Status status = Build(R"(
accelerators: [l4]
workloads:
  - name: chat
    model: llama-3-8b
    precision: fp8
    slo: {tpot_ms: 100}
    buckets:
      requests_per_second: 8
      distribution:
        - {input_tokens: 256, output_tokens: 128, fraction: 1}
measured:
  - {workload: chat, bucket: 0, accelerator: l4, requests_per_second: 1.0e-300}
)");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), "measured[0]: ")) << status;
}

// Found as an overflow; now refused at the boundary by core/limits.h's rate bound.
TEST(FleetFuzzRegressionTest, AstronomicalBucketRateIsRefused) {
  const absl::Status status = Build(R"(
accelerators: [l4, h100-80gb]
workloads:
  - name: chat
    model: llama-3-8b
    buckets:
      requests_per_second: 1.0e+300
      distribution:
        - {input_tokens: 256, output_tokens: 128, fraction: 1}
)");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "workloads[0].buckets.requests_per_second: "))
      << status;
}

TEST(FleetFuzzRegressionTest, SaneMeasurementsStillPlan) {
  const absl::Status status = Build(R"(
accelerators: [l4]
workloads:
  - name: chat
    model: llama-3-8b
    precision: fp8
    traffic: {concurrency: 50, input_tokens: 512, output_tokens: 256}
measured:
  - {workload: chat, accelerator: l4, requests_per_second: 4.2, concurrency: 30}
)");
  EXPECT_TRUE(status.ok()) << status;
}

absl::Status Resolve(const std::string& yaml) {
  absl::StatusOr<core::Workload> workload = ParseWorkloadYaml(yaml, "w.yaml");
  if (!workload.ok()) return workload.status();
  absl::StatusOr<core::ResolvedWorkload> resolved =
      core::ResolveWorkload(*workload, *DefaultCatalog());
  if (!resolved.ok()) return resolved.status();
  core::Place(*resolved, *DefaultCatalog());
  return absl::OkStatus();
}

constexpr char kArchitecture[] = R"(
architecture: {parameters_billion: 46.7, layers: 32, hidden_size: HIDDEN, attention_heads: 32,
               kv_heads: 8, vocab_size: 32000, experts: 8, active_experts: 2}
task: fine-tune-lora
traffic: {tokens_per_second: 1000}
)";

std::string WithHidden(const std::string& hidden) {
  std::string yaml = kArchitecture;
  yaml.replace(yaml.find("HIDDEN"), 6, hidden);
  return yaml;
}

TEST(WorkloadFuzzRegressionTest, HugeHiddenSizeIsAnErrorNotAnOverflow) {
  // fuzz/corpus/fuzz_proto/regression-huge-hidden-size.bin, as a workload file.
  const absl::Status status = Resolve(WithHidden("1612279808"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "architecture.hidden_size: must be <= 1048576"))
      << status;
  const absl::Status intermediate = Resolve(R"(
architecture: {parameters_billion: 7, layers: 32, hidden_size: 4096, intermediate_size: 2000000,
               attention_heads: 32, kv_heads: 8, vocab_size: 32000}
traffic: {concurrency: 1}
)");
  EXPECT_TRUE(absl::StrContains(intermediate.message(), "architecture.intermediate_size: must be"))
      << intermediate;
}

TEST(WorkloadFuzzRegressionTest, LargestAllowedWidthStillPlaces) {
  EXPECT_TRUE(Resolve(WithHidden("1048576")).ok());
}

TEST(WorkloadFuzzRegressionTest, DerivedMlpWidthSaturatesInsteadOfOverflowing) {
  // Catalog presets are not range-checked; the derived width must not overflow either.
  core::ModelArchitecture a;
  a.hidden_size = 1612279808;
  EXPECT_EQ(a.effective_intermediate_size(), std::numeric_limits<int>::max());
  a.hidden_size = 4096;
  EXPECT_EQ(a.effective_intermediate_size(), 16384);
}

}  // namespace
}  // namespace gpufit::config

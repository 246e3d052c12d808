// Regressions found by fuzzing (fuzz/CAMPAIGN.md): fleet inputs whose capacities are off by
// dozens of orders of magnitude. They used to convert a replica count beyond INT_MAX to int
// (undefined behaviour, caught by UBSan in fuzz_proto); now they are clear errors, or the
// choice is dropped when the model's own capacity is the cause.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "config/catalog_loader.h"
#include "config/fleet_loader.h"
#include "core/fleet_planner.h"
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

TEST(FleetFuzzRegressionTest, AstronomicalBucketRateLeavesNoChoiceInsteadOfOverflowing) {
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
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "no accelerator of this fleet serves it"))
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

}  // namespace
}  // namespace gpufit::config

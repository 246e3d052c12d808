// The synthetic Mélange instance generator: deterministic, readable by the instance loader,
// and close to the shared 4x4/8x8 instances it was fitted to (the request mix exactly, the
// throughput tables within the noise the shared tables carry).
#include "support/melange/melange_generator.h"

#include <cmath>
#include <string>

#include "config/yaml_reader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/melange/melange_instance.h"

namespace gpufit::melange {
namespace {

nlohmann::json Shared(int buckets) {
  const std::string path = std::string(GPUFIT_SHARED_DIR) + "/data/fleet-instances/mixed_g0" +
                           std::to_string(buckets) + "_mig7_r032_sf4.json";
  absl::StatusOr<std::string> text = config::internal::ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return nlohmann::json::parse(text.ok() ? *text : "{}");
}

TEST(MelangeGeneratorTest, DeterministicAndLoadable) {
  MelangeInstanceSpec spec;
  spec.buckets = 12;
  spec.mig = true;
  const std::string a = GenerateMelangeInstance(spec);
  EXPECT_EQ(a, GenerateMelangeInstance(spec));
  EXPECT_EQ(MelangeInstanceName(spec), "synthetic_mixed_g12_mig7_r032_sf4");
  for (MigMode mode : {MigMode::kFreeSlices, MigMode::kPhysicalMig, MigMode::kNoMig}) {
    absl::StatusOr<core::FleetProblem> pr = ParseMelangeInstance(a, "g12", mode);
    ASSERT_TRUE(pr.ok()) << pr.status();
    ASSERT_EQ(pr->demands.size(), 1u);
    EXPECT_EQ(pr->demands[0].buckets.size(), 144u);  // every bucket has some traffic
    double rate = 0;
    for (const core::FleetBucket& b : pr->demands[0].buckets) rate += b.requests_per_second;
    EXPECT_NEAR(rate, 32, 1e-4);
  }
  // The seed changes the tables; the rate and slice factor do not.
  MelangeInstanceSpec other = spec;
  other.seed = 2;
  const nlohmann::json x = nlohmann::json::parse(a);
  EXPECT_NE(x["gpu_info"], nlohmann::json::parse(GenerateMelangeInstance(other))["gpu_info"]);
  other = spec;
  other.requests_per_second = 256;
  other.slice_factor = 8;
  const nlohmann::json y = nlohmann::json::parse(GenerateMelangeInstance(other));
  EXPECT_EQ(x["gpu_info"], y["gpu_info"]);
  EXPECT_EQ(y["total_request_rate"].get<double>(), 256);
  EXPECT_EQ(y["slice_factor"].get<int>(), 8);
}

TEST(MelangeGeneratorTest, MigSlicesAreSevenths) {
  MelangeInstanceSpec spec;
  spec.buckets = 10;
  spec.mig = true;
  const nlohmann::json doc = nlohmann::json::parse(GenerateMelangeInstance(spec));
  const nlohmann::json& a100 = doc["gpu_info"]["A100-80GB"];
  for (int k : {1, 2, 3}) {
    const nlohmann::json& slice = doc["gpu_info"]["A100-MIG-" + std::to_string(k) + "g"];
    EXPECT_NEAR(slice["cost"].get<double>(), 3.67 * k / 7, 1e-4);
    for (int i = 0; i < 10; ++i) {
      for (int j = 0; j < 10; ++j) {
        const double want = a100["tputs"][i][j].get<double>() * k / 7;
        EXPECT_NEAR(slice["tputs"][i][j].get<double>(), want, 0.006 * want) << k << " " << i;
      }
    }
  }
}

TEST(MelangeGeneratorTest, ReproducesTheSharedInstancesShape) {
  for (int buckets : {4, 8}) {
    const nlohmann::json shared = Shared(buckets);
    MelangeInstanceSpec spec;
    spec.buckets = buckets;
    spec.mig = true;
    const nlohmann::json gen = nlohmann::json::parse(GenerateMelangeInstance(spec));
    // The request mix is the shared one.
    for (int i = 0; i < buckets; ++i) {
      for (int j = 0; j < buckets; ++j) {
        EXPECT_NEAR(gen["workload_distribution"][i][j].get<double>(),
                    shared["workload_distribution"][i][j].get<double>(), 2e-8)
            << buckets << " " << i << " " << j;
      }
    }
    // Throughput: the model within ~10% (RMS of the log ratio) of every shared table, the
    // noisy tables within the noise of two independent draws; prices the same.
    for (const char* gpu : {"L4", "A10G", "A100-80GB", "H100"}) {
      EXPECT_EQ(gen["gpu_info"][gpu]["cost"], shared["gpu_info"][gpu]["cost"]) << gpu;
      double model = 0, noisy = 0;
      for (int i = 0; i < buckets; ++i) {
        for (int j = 0; j < buckets; ++j) {
          const double want = shared["gpu_info"][gpu]["tputs"][i][j].get<double>();
          const double m =
              MelangeModelRequestsPerSecond(gpu, MelangeBucketCentre(32, 8192, buckets, i),
                                            MelangeBucketCentre(16, 2048, buckets, j));
          model += std::pow(std::log(m / want), 2) / (buckets * buckets);
          noisy += std::pow(std::log(gen["gpu_info"][gpu]["tputs"][i][j].get<double>() / want), 2) /
                   (buckets * buckets);
        }
      }
      EXPECT_LT(std::sqrt(model), 0.12) << gpu << " " << buckets;
      EXPECT_LT(std::sqrt(noisy), 0.2) << gpu << " " << buckets;
    }
  }
}

}  // namespace
}  // namespace gpufit::melange

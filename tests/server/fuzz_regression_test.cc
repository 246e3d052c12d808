// Reproducers the fuzz targets found (fuzz/CAMPAIGN.md), replayed through the transport-free
// halves of the RPCs exactly as fuzz/fuzz_proto.cc decodes them: the first byte picks the
// message, the rest is its wire encoding. Each reproducer is also in fuzz_proto's seed corpus,
// so fuzz/run.sh replays it under ASan + UBSan too.
#include <fstream>
#include <sstream>
#include <string>

#include "config/service_config.h"
#include "gmock/gmock.h"
#include "gpufit/v1/placement_service.pb.h"
#include "gtest/gtest.h"
#include "server/placement_service.h"

namespace gpufit::server {
namespace {

namespace v1 = ::gpufit::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadReproducer(const std::string& name) {
  std::ifstream in(std::string(GPUFIT_SOURCE_DIR) + "/fuzz/corpus/fuzz_proto/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(FuzzRegressionTest, PlanFleetWithTinyMeasuredConcurrencyIsInvalidArgument) {
  // A measured concurrency of 5.1e-56 per replica: the replica count (~1e57) was converted to
  // int, undefined behaviour. Now the request is rejected naming the measurement.
  const std::string bytes = ReadReproducer("regression-measured-tiny-capacity.bin");
  ASSERT_GT(bytes.size(), 1u);
  ASSERT_EQ(bytes[0] % 3, 2);  // PlanFleetRequest
  v1::PlanFleetRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes.substr(1)));
  const absl::StatusOr<v1::PlanFleetResponse> response =
      PlanFleet(config::DefaultServiceConfig(), request, /*max_seconds=*/1);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(response.status().message()),
              StartsWith("fleet.measured_capacities[0]: "));
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("check the units"));
}

TEST(FuzzRegressionTest, PlaceWithHugeHiddenSizeIsInvalidArgument) {
  // hidden_size 1612279808 with no intermediate_size: 4 x hidden_size overflowed int.
  const std::string bytes = ReadReproducer("regression-huge-hidden-size.bin");
  ASSERT_GT(bytes.size(), 1u);
  ASSERT_EQ(bytes[0] % 3, 0);  // PlaceRequest
  v1::PlaceRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes.substr(1)));
  const absl::StatusOr<v1::PlaceResponse> response = Place(config::DefaultServiceConfig(), request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(response.status().message()),
              StartsWith("workload.architecture.hidden_size: must be <= 1048576"));
}

}  // namespace
}  // namespace gpufit::server

// The memory budget (server/memory_budget.h) and the chart's memory limit stay in step: the
// limit the chart ships must hold the budget of the flags the chart passes, over plain HTTP
// and with HTTPS. (tests/front_door checks the real binary's peak RSS against the same limit.)
#include "server/memory_budget.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::server {
namespace {

using ::testing::HasSubstr;

const std::string kValues = GPUFIT_SOURCE_DIR "/helm/gpufit/values.yaml";

double ChartLimitBytes() {
  const std::string limit =
      YAML::LoadFile(kValues)["resources"]["limits"]["memory"].as<std::string>();
  EXPECT_EQ(limit.substr(limit.size() - 2), "Mi") << limit;
  return std::stod(limit.substr(0, limit.size() - 2)) * (1 << 20);
}

// The options the chart's deployment passes (helm/gpufit/templates/deployment.yaml); every
// other limit is gpufitd's default.
DaemonOptions ChartOptions() {
  DaemonOptions o;
  o.max_message_bytes = YAML::LoadFile(kValues)["grpc"]["maxMessageBytes"].as<int>();
  return o;
}

TEST(MemoryBudgetTest, TheChartsLimitHoldsTheBudgetOfTheChartsFlags) {
  const double limit = ChartLimitBytes();
  const MemoryBudget plain = ComputeMemoryBudget(ChartOptions());
  EXPECT_LE(plain.total_bytes, limit) << FormatMemoryBudget(plain);
  DaemonOptions https = ChartOptions();
  https.http_tls_cert_path = "cert.pem";
  const MemoryBudget tls = ComputeMemoryBudget(https);
  EXPECT_GT(tls.total_bytes, plain.total_bytes);
  EXPECT_LE(tls.total_bytes, limit) << FormatMemoryBudget(tls);
  // Headroom for allocator fragmentation and kernel socket buffers, which the terms leave out.
  EXPECT_LE(tls.total_bytes * 1.2, limit) << FormatMemoryBudget(tls);
}

TEST(MemoryBudgetTest, EachLimitIsATermOfTheSum) {
  const MemoryBudget base = ComputeMemoryBudget(DaemonOptions{});
  double sum = 0;
  for (const MemoryBudgetTerm& t : base.terms) sum += t.bytes;
  EXPECT_DOUBLE_EQ(sum, base.total_bytes);

  DaemonOptions more = DaemonOptions{};
  more.max_message_bytes *= 4;
  more.grpc_max_queued *= 2;
  const MemoryBudget grpc = ComputeMemoryBudget(more);
  EXPECT_NEAR(grpc.total_bytes - base.total_bytes,
              (4.0 * (32 + 64) - (32 + 32)) * (1 << 20) * kGrpcBytesPerMessageByte, 1);

  more = DaemonOptions{};
  more.http_body_budget_bytes *= 2;
  EXPECT_NEAR(ComputeMemoryBudget(more).total_bytes - base.total_bytes,
              32.0 * (1 << 20) * kExtenderBytesPerBodyByte, 1);

  const std::string table = FormatMemoryBudget(base);
  EXPECT_THAT(table, HasSubstr("--http-body-budget-bytes 32 MiB"));
  EXPECT_THAT(table, HasSubstr("--max-message-bytes 1 MiB"));
  EXPECT_THAT(table, HasSubstr("total"));
}

}  // namespace
}  // namespace gpufit::server

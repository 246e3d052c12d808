// Numbers outside their finite, sane range (core/limits.h) are refused by the core's
// validation with the field named, before they reach the performance model or the solver.
// The first case is issue 13's crash: a GPU price of +Inf (or 1e30) passed `!(x >= 0)` and
// made CLP abort the process.
#include "core/limits.h"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/catalog.h"
#include "core/fleet_planner.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "core/test_catalog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::core {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
const std::vector<double> kHostileNumbers = {kInf, -kInf, kNan, 1e30, 1e300, 1e25};

FleetRequest OneWorkloadFleet() {
  FleetRequest req;
  req.workloads.push_back({testing::ChatWorkload(40), std::nullopt});
  req.accelerators = {"l4", "a100-80gb"};
  req.solve.time_limit_seconds = 1;
  req.solve.relative_gap = 0;
  return req;
}

TEST(LimitsTest, CheckRangeNamesTheFieldAndTheRange) {
  EXPECT_TRUE(CheckRange("x", 5, 0, 10).ok());
  EXPECT_TRUE(CheckRange("x", 0, 0, 10).ok());
  EXPECT_EQ(CheckRange("a.b", kInf, 0, 10).message(), "a.b: must be a finite number");
  EXPECT_EQ(CheckRange("a.b", kNan, 0, 10).message(), "a.b: must be a finite number");
  EXPECT_EQ(CheckRange("a.b", 11, 0, 10).message(), "a.b: must be in [0, 10]");
  EXPECT_EQ(CheckRange("a.b", -1, 0, 10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPositive("p", 0, 10).message(), "p: must be > 0 and <= 10");
  EXPECT_TRUE(CheckPositive("p", 1e-9, 10).ok());
}

TEST(LimitsTest, FleetGpuPriceOutOfRangeIsRefusedNotSolved) {
  for (double price : kHostileNumbers) {
    FleetRequest req = OneWorkloadFleet();
    req.gpus.push_back({"l4", -1, 0, price});
    absl::StatusOr<FleetPlan> plan = PlanFleet(req, testing::TestCatalog());
    if (price < 0) {
      // -Inf: negative means "the catalog's price", as the field documents.
      EXPECT_TRUE(plan.ok()) << plan.status();
      continue;
    }
    ASSERT_FALSE(plan.ok()) << price;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << price;
    EXPECT_THAT(std::string(plan.status().message()), StartsWith("gpus[0].price_usd_per_hour: "))
        << price;
  }
  // The largest allowed price still plans (no abort in the solver at the bound).
  FleetRequest req = OneWorkloadFleet();
  req.gpus.push_back({"l4", -1, 0, kMaxPriceUsdPerHour});
  req.gpus.push_back({"a100-80gb", -1, 0, kMaxPriceUsdPerHour});
  absl::StatusOr<FleetPlan> plan = PlanFleet(req, testing::TestCatalog());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_GE(plan->cost_usd_per_hour, kMaxPriceUsdPerHour);
}

TEST(LimitsTest, FleetCountsRatesAndSolverOptionsOutOfRange) {
  struct Case {
    const char* field;
    std::function<void(FleetRequest&)> mutate;
  };
  const std::vector<Case> cases = {
      {"gpus[0].owned",
       [](FleetRequest& r) {
         r.gpus.push_back({"l4", -1, kMaxGpuCount + 1, -1});
       }},
      {"gpus[0].max_count",
       [](FleetRequest& r) {
         r.gpus.push_back({"l4", kMaxGpuCount + 1, 0, -1});
       }},
      {"gpus[1].accelerator",
       [](FleetRequest& r) {
         r.gpus.push_back({"l4", -1, 0, -1});
         r.gpus.push_back({"l4", -1, 0, -1});
       }},
      {"measured[0].concurrency",
       [](FleetRequest& r) {
         r.measured.push_back({"chat", -1, "l4", 1, 0, kInf, ""});
       }},
      {"measured[0].requests_per_second",
       [](FleetRequest& r) {
         r.measured.push_back({"chat", -1, "l4", 1, 1e300, 0, ""});
       }},
      {"solver.time_limit_seconds", [](FleetRequest& r) { r.solve.time_limit_seconds = kInf; }},
      {"solver.relative_gap", [](FleetRequest& r) { r.solve.relative_gap = kNan; }},
      {"accelerators[1]",
       [](FleetRequest& r) {
         r.accelerators = {"l4", "l4"};
       }},
      {"workloads[0].buckets.requests_per_second",
       [](FleetRequest& r) {
         r.workloads[0].buckets = BucketedTraffic{kInf, {{512, 256, 1}}, 4};
       }},
      {"workloads[0].buckets.distribution[0].fraction",
       [](FleetRequest& r) {
         r.workloads[0].buckets = BucketedTraffic{10, {{512, 256, kInf}}, 4};
       }},
  };
  for (const Case& c : cases) {
    FleetRequest req = OneWorkloadFleet();
    c.mutate(req);
    absl::StatusOr<FleetPlan> plan = PlanFleet(req, testing::TestCatalog());
    ASSERT_FALSE(plan.ok()) << c.field;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(plan.status().message()), StartsWith(std::string(c.field) + ": "))
        << c.field;
  }
}

TEST(LimitsTest, CatalogFiguresOutOfRangeAreRefused) {
  const std::vector<std::pair<std::string, std::function<void(Accelerator&)>>> cases = {
      {"price_usd_per_hour", [](Accelerator& a) { a.price_usd_per_hour = 1e30; }},
      {"price_usd_per_hour", [](Accelerator& a) { a.price_usd_per_hour = kInf; }},
      {"memory_gib", [](Accelerator& a) { a.memory_gib = 1e300; }},
      {"memory_bandwidth_gbps", [](Accelerator& a) { a.memory_bandwidth_gbps = kNan; }},
      {"fp16_tflops", [](Accelerator& a) { a.fp16_tflops = 0; }},
      {"fp8_tflops", [](Accelerator& a) { a.fp8_tflops = 1e12; }},
      {"tdp_watts", [](Accelerator& a) { a.tdp_watts = -kInf; }},
      {"nvlink_gbps", [](Accelerator& a) { a.nvlink_gbps = 1e9; }},
  };
  for (const auto& [field, mutate] : cases) {
    Accelerator l4 = testing::TestL4();
    mutate(l4);
    absl::StatusOr<Catalog> c = Catalog::Create({l4}, {}, Policy{}, "t");
    ASSERT_FALSE(c.ok()) << field;
    const std::string message(c.status().message());
    EXPECT_EQ(message.substr(0, message.find(':')), "accelerators[0] (l4)." + field);
  }
  Policy policy;
  policy.energy_usd_per_kwh = kInf;
  EXPECT_THAT(std::string(Catalog::Create({testing::TestL4()}, {}, policy, "t").status().message()),
              StartsWith("policy.energy_usd_per_kwh: "));
  policy = Policy{};
  policy.replica_headroom = 1e300;
  EXPECT_THAT(std::string(Catalog::Create({testing::TestL4()}, {}, policy, "t").status().message()),
              StartsWith("policy.replica_headroom: "));
}

TEST(LimitsTest, WorkloadAcceleratorListIsBoundedAndHasNoRepeats) {
  const Catalog catalog = testing::TestCatalog();
  Workload w = testing::ChatWorkload(10);
  w.accelerators.assign(10000, "l4");
  absl::StatusOr<ResolvedWorkload> r = ResolveWorkload(w, catalog, "workload");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "workload.accelerators: at most 256 ids");

  w.accelerators = {"l4", "a100-80gb", "l4"};
  r = ResolveWorkload(w, catalog, "workload");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "workload.accelerators[2]: repeats 'l4'");

  w.accelerators = {"l4", "a100-80gb"};
  EXPECT_TRUE(ResolveWorkload(w, catalog, "workload").ok());
}

}  // namespace
}  // namespace gpufit::core

#include "core/placement.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "render/narration.h"
#include "test_catalog.h"

namespace gpufit::core {
namespace {

using ::gpufit::testing::ChatWorkload;
using ::gpufit::testing::TestCatalog;
using ::testing::HasSubstr;

const Option* Find(const Decision& d, const std::string& id, int gpus = 1) {
  for (const Option& o : d.options) {
    if (o.accelerator->id == id && o.gpus_per_replica == gpus) return &o;
  }
  return nullptr;
}

TEST(PlacementTest, EvaluatesEveryAcceleratorAndSlice) {
  const Catalog catalog = TestCatalog();
  const Decision d = PlaceWorkload(ChatWorkload(10), catalog).value();
  for (const char* id :
       {"l4", "a100-80gb", "a100-80gb/1g.10gb", "a100-80gb/2g.20gb", "a100-80gb/3g.40gb"}) {
    EXPECT_NE(Find(d, id), nullptr) << id;
  }
  // The full-GPU profile duplicates its parent and is listed only when the parent is not.
  EXPECT_EQ(Find(d, "a100-80gb/7g.80gb"), nullptr);
  EXPECT_NE(Find(d, "a100-80gb", 8), nullptr);  // TP degrees on NVLink parts
  ASSERT_NE(d.recommendation(), nullptr);
  EXPECT_TRUE(d.recommendation()->feasible);
}

TEST(PlacementTest, FeasibleOptionsComeFirstRankedByCost) {
  const Catalog catalog = TestCatalog();
  const Decision d = PlaceWorkload(ChatWorkload(50), catalog).value();
  bool seen_infeasible = false;
  double previous_cost = 0;
  for (const Option& o : d.options) {
    if (!o.feasible) {
      seen_infeasible = true;
      EXPECT_FALSE(render::RejectionText(o).empty());
      continue;
    }
    EXPECT_FALSE(seen_infeasible) << "feasible option after a rejected one";
    EXPECT_GE(o.cost_usd_per_hour, previous_cost);
    previous_cost = o.cost_usd_per_hour;
    EXPECT_GE(o.replicas, 1);
    EXPECT_NEAR(o.cost_usd_per_hour,
                o.replicas * o.gpus_per_replica * o.accelerator->price_usd_per_hour, 1e-9);
  }
}

TEST(PlacementTest, ReplicasCoverTheTargetWithHeadroom) {
  const Catalog catalog = TestCatalog();
  const Decision d = PlaceWorkload(ChatWorkload(200), catalog).value();
  for (const Option& o : d.options) {
    if (!o.feasible) continue;
    const double needed = 200 * (1 + catalog.policy().replica_headroom);
    EXPECT_GE(o.replicas * o.prediction.max_concurrency, needed - 1e-6) << o.accelerator->id;
    EXPECT_LT((o.replicas - 1) * o.prediction.max_concurrency, needed) << o.accelerator->id;
    EXPECT_LE(o.prediction.concurrency, o.prediction.max_concurrency);
  }
}

TEST(PlacementTest, SeventyBillionDoesNotFitAnL4AndL4CannotBeCombined) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.model = "llama-3-70b";
  w.precision = Precision::kInt8;
  const Decision d = PlaceWorkload(w, catalog).value();
  const Option* l4 = Find(d, "l4");
  ASSERT_NE(l4, nullptr);
  EXPECT_FALSE(l4->feasible);
  EXPECT_EQ(l4->rejection.cls, RejectClass::kMemory);
  EXPECT_THAT(render::RejectionText(*l4), HasSubstr("memory: needs "));
  EXPECT_THAT(render::RejectionText(*l4), HasSubstr("GiB usable"));
  const Option* l4x2 = Find(d, "l4", 2);
  ASSERT_NE(l4x2, nullptr);
  EXPECT_EQ(render::RejectionText(*l4x2), "capability: no NVLink for TP=2");
  ASSERT_NE(d.recommendation(), nullptr);
  EXPECT_EQ(d.recommendation()->accelerator->id, "a100-80gb");
}

TEST(PlacementTest, TightSloRejectsWithTheNumbers) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.slo.tpot_ms = 15;
  const Decision d = PlaceWorkload(w, catalog).value();
  const Option* l4 = Find(d, "l4");
  ASSERT_NE(l4, nullptr);
  EXPECT_FALSE(l4->feasible);
  EXPECT_EQ(l4->rejection.cls, RejectClass::kSlo);
  EXPECT_THAT(render::RejectionText(*l4), ::testing::MatchesRegex("slo: TPOT [0-9]+ ms > 15 ms"));
}

TEST(PlacementTest, DedicatedIsolationExcludesMigSlices) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.isolation = Isolation::kDedicated;
  const Decision d = PlaceWorkload(w, catalog).value();
  const Option* slice = Find(d, "a100-80gb/3g.40gb");
  ASSERT_NE(slice, nullptr);
  EXPECT_FALSE(slice->feasible);
  EXPECT_EQ(slice->rejection.cls, RejectClass::kCapability);
}

TEST(PlacementTest, AllowListRestrictsCandidates) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.accelerators = {"a100-80gb"};
  Decision d = PlaceWorkload(w, catalog).value();
  EXPECT_EQ(Find(d, "l4"), nullptr);
  EXPECT_NE(Find(d, "a100-80gb"), nullptr);
  EXPECT_EQ(Find(d, "a100-80gb/1g.10gb"), nullptr);  // slices only when asked for
  w.accelerators = {"a100-80gb/*"};
  d = PlaceWorkload(w, catalog).value();
  EXPECT_EQ(Find(d, "a100-80gb"), nullptr);
  EXPECT_NE(Find(d, "a100-80gb/1g.10gb"), nullptr);
  EXPECT_NE(Find(d, "a100-80gb/7g.80gb"), nullptr);
  w.accelerators = {"a100-80gb/3g.40gb"};
  d = PlaceWorkload(w, catalog).value();
  ASSERT_EQ(d.options.size(), 1u);
  w.accelerators = {"l4/*"};
  EXPECT_EQ(PlaceWorkload(w, catalog).status().message(),
            "workload.accelerators[0]: 'l4' has no MIG profiles");
}

TEST(PlacementTest, LatencyObjectivePrefersTheFasterGpu) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.objective = Objective::kLatency;
  const Decision d = PlaceWorkload(w, catalog).value();
  ASSERT_NE(d.recommendation(), nullptr);
  EXPECT_EQ(d.recommendation()->accelerator->parent_id.empty()
                ? d.recommendation()->accelerator->id
                : d.recommendation()->accelerator->parent_id,
            "a100-80gb");
  w.objective = Objective::kCost;
  EXPECT_EQ(PlaceWorkload(w, catalog).value().recommendation()->accelerator->id, "l4");
}

// Found by fuzz_proto: 1e12 tokens/s (within the validated range) needed ~4e9 replicas on one
// option, and converting that to int was undefined behaviour. Such options are rejected.
TEST(PlacementTest, TrafficNeedingMoreThanAMillionReplicasIsRejected) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.traffic.tokens_per_second = 1e12;
  const Decision d = PlaceWorkload(w, catalog).value();
  const Option* l4 = Find(d, "l4");
  ASSERT_NE(l4, nullptr);
  EXPECT_FALSE(l4->feasible);
  EXPECT_EQ(l4->rejection.kind, RejectKind::kTooManyReplicas);
  EXPECT_GT(l4->rejection.needed, kMaxReplicas);
  EXPECT_THAT(render::RejectionText(*l4), HasSubstr("replicas, more than 1000000"));
  for (const Option& o : d.options) EXPECT_FALSE(o.feasible) << o.accelerator->id;
  // A million replicas' worth still places.
  w.traffic.tokens_per_second = 1e6;
  const Decision ok = PlaceWorkload(w, catalog).value();
  ASSERT_NE(ok.recommendation(), nullptr);
  EXPECT_TRUE(ok.recommendation()->feasible);
}

TEST(PlacementTest, DeterministicForTheSameInput) {
  const Catalog catalog = TestCatalog();
  const Decision a = PlaceWorkload(ChatWorkload(77), catalog).value();
  const Decision b = PlaceWorkload(ChatWorkload(77), catalog).value();
  ASSERT_EQ(a.options.size(), b.options.size());
  for (size_t i = 0; i < a.options.size(); ++i) {
    EXPECT_EQ(a.options[i].accelerator, b.options[i].accelerator);
    EXPECT_EQ(a.options[i].replicas, b.options[i].replicas);
    EXPECT_EQ(a.options[i].cost_usd_per_hour, b.options[i].cost_usd_per_hour);
  }
}

TEST(PlacementTest, PredictOptionPicksTheSmallestTensorParallelDegreeThatFits) {
  const Catalog catalog = TestCatalog();
  Workload w = ChatWorkload(10);
  w.model = "llama-3-70b";
  w.precision = Precision::kBf16;
  const ResolvedWorkload r = ResolveWorkload(w, catalog).value();
  const Option o = PredictOption(r, catalog, "a100-80gb", 0).value();
  EXPECT_TRUE(o.feasible);
  EXPECT_EQ(o.gpus_per_replica, 2);
  EXPECT_EQ(PredictOption(r, catalog, "h900", 1).status().code(), absl::StatusCode::kNotFound);
  const Option forced = PredictOption(r, catalog, "a100-80gb", 1).value();
  EXPECT_FALSE(forced.feasible);
}

}  // namespace
}  // namespace gpufit::core

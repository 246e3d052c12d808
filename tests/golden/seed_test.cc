// Golden tests: every recommendation of the domain reference (shared/seed/l4-vs-a100.txt)
// reproduced by the default catalog and the examples/ workloads. Each test names the seed
// passage it checks.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "config/catalog_loader.h"
#include "config/workload_loader.h"
#include "core/placement.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "render/narration.h"

namespace gpufit {
namespace {

using core::Decision;
using core::Option;

class SeedTest : public ::testing::Test {
 protected:
  static core::Workload Example(const std::string& name) {
    auto w = config::LoadWorkloadFile(std::string(GPUFIT_SOURCE_DIR "/examples/") + name);
    EXPECT_TRUE(w.ok()) << w.status();
    return *w;
  }
  Decision Plan(const core::Workload& w) const {
    auto d = core::PlaceWorkload(w, *catalog_);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Decision{};
  }
  // The option for exactly `id` with `gpus` GPUs per replica.
  static const Option* Find(const Decision& d, const std::string& id, int gpus = 1) {
    for (const Option& o : d.options) {
      if (o.accelerator->id == id && o.gpus_per_replica == gpus) return &o;
    }
    return nullptr;
  }
  // The id of the recommended whole GPU (a slice counts as its parent).
  static std::string RecommendedGpu(const Decision& d) {
    const Option* o = d.recommendation();
    if (o == nullptr) return "(none)";
    return o->accelerator->is_mig_slice() ? o->accelerator->parent_id : o->accelerator->id;
  }

  std::shared_ptr<const core::Catalog> catalog_ = config::DefaultCatalog();
};

// "For models that fit on the L4, it's consistently 2x cheaper per token" and
// "Which is more cost-effective for LLaMA 3 8B? The L4, by a wide margin."
// Like the seed's throughput table, per-token cost is taken at each GPU's full throughput
// (no latency target).
TEST_F(SeedTest, Llama3_8bFp8FitsAnL4AndCostsAboutHalfPerToken) {
  core::Workload w = Example("seed-l4-vs-a100-llama3-8b.yaml");
  w.slo = {};
  const Decision d = Plan(w);
  const Option* l4 = Find(d, "l4");
  const Option* a100 = Find(d, "a100-80gb");
  ASSERT_TRUE(l4 && a100);
  ASSERT_TRUE(l4->feasible) << render::RejectionText(*l4);
  ASSERT_TRUE(a100->feasible);
  const double ratio = l4->usd_per_million_tokens / a100->usd_per_million_tokens;
  std::printf("L4 $%.3f vs A100 $%.3f per 1M output tokens: ratio %.2f\n",
              l4->usd_per_million_tokens, a100->usd_per_million_tokens, ratio);
  EXPECT_GT(ratio, 0.35);
  EXPECT_LT(ratio, 0.75);
  EXPECT_GT(l4->tokens_per_second_per_usd, 1.3 * a100->tokens_per_second_per_usd);
}

// "LLaMA 3 70B (INT8): Does not fit [L4]"; "Mixtral 8x7B: Does not fit [L4]";
// "you can't combine L4 VRAM (no NVLink)".
TEST_F(SeedTest, SeventyBAndMixtralDoNotFitAnL4) {
  for (const char* example : {"llama3-70b-int8.yaml", "mixtral-8x7b.yaml"}) {
    const Decision d = Plan(Example(example));
    const Option* l4 = Find(d, "l4");
    ASSERT_NE(l4, nullptr) << example;
    EXPECT_FALSE(l4->feasible) << example;
    EXPECT_EQ(l4->rejection.cls, core::RejectClass::kMemory) << example;
    const Option* l4x2 = Find(d, "l4", 2);
    ASSERT_NE(l4x2, nullptr) << example;
    EXPECT_EQ(render::RejectionText(*l4x2), "capability: no NVLink for TP=2");
    EXPECT_EQ(RecommendedGpu(d), "a100-80gb") << example;
  }
}

// FAQ "Can the L4 run LLaMA 3 70B? No. ~35GB VRAM even with aggressive 4-bit quantization."
TEST_F(SeedTest, SeventyBAtFourBitStillDoesNotFitAnL4) {
  core::Workload w = Example("llama3-70b-int8.yaml");
  w.precision = core::Precision::kInt4;
  const Decision d = Plan(w);
  const Option* l4 = Find(d, "l4");
  ASSERT_NE(l4, nullptr);
  EXPECT_FALSE(l4->feasible);
  EXPECT_GT(l4->prediction.memory.weights_gib, 30);  // ~35 GB of weights
}

// "Model fits in 24GB + inference only -> L4 wins on cost": Mistral 7B FP16, Qwen 14B INT8.
TEST_F(SeedTest, ModelsThatFitTheL4AreServedThere) {
  for (const char* example :
       {"mistral-7b-fp16.yaml", "qwen2.5-14b-int8.yaml", "seed-l4-vs-a100-llama3-8b.yaml"}) {
    const Decision d = Plan(Example(example));
    EXPECT_EQ(RecommendedGpu(d), "l4") << example;
  }
}

// "When the A100 Becomes Cheaper": 10/50/100/200 users need 1/3/5/10 L4s vs 1/1/2/4 A100s,
// and the decision guide: "Am I serving under 50 concurrent users? -> L4".
// The L4 column is reproduced within one GPU. The A100 column is not: with the A100's
// throughput validated against published measurements (validation_test), 165 users fit one
// A100 at the same TPOT target, so gpufit needs fewer A100s than the seed (2, not 4, at 200
// users) and the A100 becomes the cheaper choice above ~50 users, as the section's title and
// the decision guide say (the table's footnote "L4 remains cheaper" does not follow).
TEST_F(SeedTest, ConcurrencyTable) {
  const struct {
    int users, l4, a100;
  } kRows[] = {{10, 1, 1}, {50, 3, 1}, {100, 5, 2}, {200, 10, 4}};
  core::Workload w = Example("seed-l4-vs-a100-llama3-8b.yaml");
  for (const auto& row : kRows) {
    w.traffic.concurrency = row.users;
    const Decision d = Plan(w);
    const Option* l4 = Find(d, "l4");
    const Option* a100 = Find(d, "a100-80gb");
    ASSERT_TRUE(l4 && a100 && l4->feasible && a100->feasible);
    std::printf("%3d users: %2d L4 ($%.2f/h)  %2d A100 ($%.2f/h)   seed: %d / %d\n", row.users,
                l4->replicas, l4->cost_usd_per_hour, a100->replicas, a100->cost_usd_per_hour,
                row.l4, row.a100);
    EXPECT_NEAR(l4->replicas, row.l4, 1) << row.users << " users";
    EXPECT_GE(a100->replicas, 1);
    EXPECT_LE(a100->replicas, row.a100) << row.users << " users";
    if (row.users <= 50) {
      EXPECT_EQ(RecommendedGpu(d), "l4") << row.users << " users";
    } else {
      EXPECT_EQ(RecommendedGpu(d), "a100-80gb") << row.users << " users";
    }
  }
}

// Decision guide: "Is latency per request my priority? -> A100".
TEST_F(SeedTest, LatencyFirstPicksTheA100) {
  const Decision d = Plan(Example("latency-first-llama3-8b.yaml"));
  EXPECT_EQ(RecommendedGpu(d), "a100-80gb");
  const Option* l4 = Find(d, "l4");
  ASSERT_TRUE(l4 && l4->feasible);
  EXPECT_LT(d.recommendation()->prediction.tpot_ms, l4->prediction.tpot_ms / 3);
}

// "A100 ... long-context workloads (where KV-cache fills VRAM)".
TEST_F(SeedTest, LongContextGoesToTheA100) {
  const Decision d = Plan(Example("long-context-qwen2.5-7b.yaml"));
  EXPECT_EQ(RecommendedGpu(d), "a100-80gb");
}

// Training table: LoRA 7B "A100 recommended", QLoRA 13B/70B and 1B pre-training "A100 only".
TEST_F(SeedTest, FineTuningAndTrainingGoToTheA100) {
  for (const char* example :
       {"lora-7b.yaml", "qlora-13b.yaml", "qlora-70b.yaml", "pretrain-1b.yaml"}) {
    const Decision d = Plan(Example(example));
    EXPECT_EQ(RecommendedGpu(d), "a100-80gb") << example;
    const Option* l4 = Find(d, "l4");
    ASSERT_NE(l4, nullptr) << example;
    EXPECT_FALSE(l4->feasible) << example << ": " << l4->prediction.memory.total_gib << " GiB";
    ASSERT_NE(d.recommendation(), nullptr);
    EXPECT_GT(d.recommendation()->prediction.training_hours, 0) << example;
  }
}

// "L4 vs A100 for Whisper transcription? The L4 wins." / "for embeddings ... the L4 is the
// better choice" / SDXL: "the L4 is cheaper per image".
TEST_F(SeedTest, WhisperEmbeddingsAndImagesAreCheaperOnTheL4) {
  for (const char* example :
       {"whisper-large-v3.yaml", "embeddings-bge.yaml", "sdxl.yaml", "flux-dev.yaml"}) {
    const Decision d = Plan(Example(example));
    EXPECT_EQ(RecommendedGpu(d), "l4") << example;
    const Option* l4 = Find(d, "l4");
    const Option* a100 = Find(d, "a100-80gb");
    ASSERT_TRUE(l4 && a100 && l4->feasible && a100->feasible) << example;
    EXPECT_LT(l4->usd_per_million_tokens, a100->usd_per_million_tokens) << example;
  }
}

// Image table: A100 "2.5-3x faster in absolute throughput" for SDXL.
TEST_F(SeedTest, SdxlRatesMatchTheSeedTable) {
  const Decision d = Plan(Example("sdxl.yaml"));
  const Option* l4 = Find(d, "l4");
  const Option* a100 = Find(d, "a100-80gb");
  ASSERT_TRUE(l4 && a100);
  EXPECT_NEAR(l4->prediction.items_per_second * 60, 4.5, 0.5);     // ~4-5 images/min
  EXPECT_NEAR(a100->prediction.items_per_second * 60, 13.5, 1.5);  // ~12-15 images/min
}

// MIG table: 1g.10gb for "small models (3B-7B quantized), embeddings", 2g.20gb for
// "medium models (7B FP16)", 3g.40gb for "larger models (13B-30B quantized)".
TEST_F(SeedTest, EachMigProfileServesWhatTheSeedSaysItIsFor) {
  // Four tenants' worth of 4k-token conversations each; the smallest slice of the seed's
  // table that holds weights and KV cache.
  const struct {
    const char* model;
    core::Precision precision;
    const char* smallest_slice;
  } kCases[] = {
      {"mistral-7b", core::Precision::kInt4, "a100-80gb/1g.10gb"},
      {"qwen2.5-7b", core::Precision::kInt4, "a100-80gb/1g.10gb"},
      {"mistral-7b", core::Precision::kFp16, "a100-80gb/2g.20gb"},
      {"qwen2.5-14b", core::Precision::kInt8, "a100-80gb/3g.40gb"},
      {"llama-2-13b", core::Precision::kInt8, "a100-80gb/3g.40gb"},
      {"llama-3-70b", core::Precision::kInt4, "a100-80gb/7g.80gb"},
  };
  const char* kSeedProfiles[] = {"a100-80gb/1g.10gb", "a100-80gb/2g.20gb", "a100-80gb/3g.40gb",
                                 "a100-80gb/7g.80gb"};
  for (const auto& c : kCases) {
    core::Workload w = Example("mig-small-tenant.yaml");
    w.model = c.model;
    w.precision = c.precision;
    w.slo = {};
    w.traffic.concurrency = 4;
    w.traffic.input_tokens = 3072;
    w.traffic.output_tokens = 1024;
    const Decision d = Plan(w);
    std::string smallest;
    for (const char* slice : kSeedProfiles) {
      const Option* o = Find(d, slice);
      ASSERT_NE(o, nullptr) << slice;
      if (o->feasible && o->replicas == 1) {  // one slice carries the tenant's whole load
        smallest = slice;
        break;
      }
    }
    EXPECT_EQ(smallest, c.smallest_slice) << c.model << " " << core::PrecisionName(c.precision);
  }
  // Embeddings fit the smallest slice too.
  core::Workload e = Example("embeddings-bge.yaml");
  e.accelerators = {"a100-80gb/*"};
  EXPECT_TRUE(Find(Plan(e), "a100-80gb/1g.10gb")->feasible);
}

// "With MIG, a single A100 can serve 7 different small models simultaneously": a small
// isolated tenant is cheapest on a 1g.10gb slice, at 1/7 of the A100's price.
TEST_F(SeedTest, SmallIsolatedTenantGetsASlice) {
  const Decision d = Plan(Example("mig-small-tenant.yaml"));
  ASSERT_NE(d.recommendation(), nullptr);
  EXPECT_EQ(d.recommendation()->accelerator->id, "a100-80gb/1g.10gb");
  EXPECT_NEAR(d.recommendation()->replica_cost_usd_per_hour,
              catalog_->FindAccelerator("a100-80gb")->price_usd_per_hour / 7, 1e-9);
}

// Power table: "Annual power cost per GPU (at $0.10/kWh, 24/7): ~$63 [L4], ~$350 [A100]".
TEST_F(SeedTest, AnnualPowerCost) {
  const Decision d = Plan(Example("seed-l4-vs-a100-llama3-8b.yaml"));
  const Option* l4 = Find(d, "l4");
  const Option* a100 = Find(d, "a100-80gb");
  ASSERT_TRUE(l4 && a100);
  EXPECT_NEAR(l4->energy_usd_per_year / l4->replicas, 63, 1);
  EXPECT_NEAR(a100->energy_usd_per_year / a100->replicas, 350, 1);
}

// FAQ "How does the L4 compare to the L40S? ... better for models that don't fit on L4 but
// don't need the A100's 80GB": Qwen 2.5 14B in BF16 (29.5 GB).
TEST_F(SeedTest, L40sServesWhatOutgrowsTheL4) {
  core::Workload w = Example("qwen2.5-14b-int8.yaml");
  w.precision = core::Precision::kBf16;
  w.accelerators = {"l4", "l40s", "a100-80gb"};
  const Decision d = Plan(w);
  EXPECT_FALSE(Find(d, "l4")->feasible);
  EXPECT_TRUE(Find(d, "l40s")->feasible);
  EXPECT_EQ(RecommendedGpu(d), "l40s");
}

}  // namespace
}  // namespace gpufit

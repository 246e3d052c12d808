#include "core/performance_model.h"

#include "core/memory_model.h"
#include "gtest/gtest.h"
#include "test_catalog.h"

namespace gpufit::core {
namespace {

using ::gpufit::testing::TestA100;
using ::gpufit::testing::TestCatalog;
using ::gpufit::testing::TestL4;

ResolvedWorkload Llama8B(Precision p) {
  ResolvedWorkload w;
  w.architecture = gpufit::testing::Llama3_8B();
  w.weight_precision = p;
  w.input_tokens = 512;
  w.output_tokens = 256;
  w.max_context_tokens = 768;
  return w;
}

TEST(PerformanceModelTest, SmallBatchDecodeIsBoundByWeightReads) {
  const ModelConstants k;
  const ResolvedWorkload w = Llama8B(Precision::kBf16);
  const LlmPerformanceModel l4(w, TestL4(), 1, k);
  // 16.06 GB of weights at 300 GB/s x 0.80 = 66.9 ms, plus 2 ms step overhead.
  const double expected = 16.06e9 / (300e9 * k.memory_bandwidth_utilization) + 0.002;
  EXPECT_NEAR(l4.StepSeconds(1, 0, 0), expected, 0.001);
  // The A100's 6.8x bandwidth shows up almost one to one at batch 1.
  const LlmPerformanceModel a100(w, TestA100(), 1, k);
  const double ratio = (l4.StepSeconds(1, 0, 0) - 0.002) / (a100.StepSeconds(1, 0, 0) - 0.002);
  EXPECT_NEAR(ratio, 2039.0 / 300.0, 0.01);
}

TEST(PerformanceModelTest, LargeBatchBecomesComputeBound) {
  const ModelConstants k;
  const ResolvedWorkload w = Llama8B(Precision::kBf16);
  const LlmPerformanceModel a100(w, TestA100(), 1, k);
  // Doubling a large batch roughly doubles the step once compute dominates.
  const double t256 = a100.StepSeconds(256, 100, 2048);
  const double t512 = a100.StepSeconds(512, 100, 4096);
  EXPECT_NEAR((t512 - 0.002) / (t256 - 0.002), 2.0, 0.05);
  // Throughput still grows with concurrency but saturates.
  EXPECT_GT(a100.OutputTokensPerSecond(64), a100.OutputTokensPerSecond(8));
  EXPECT_LT(a100.OutputTokensPerSecond(256) / a100.OutputTokensPerSecond(128), 1.5);
}

TEST(PerformanceModelTest, Fp8RunsAtFp8SpeedOnlyWhereTheHardwareHasIt) {
  const ModelConstants k;
  EXPECT_DOUBLE_EQ(PeakFlopsPerSecond(TestL4(), Precision::kFp8, k), 242.5e12);
  EXPECT_DOUBLE_EQ(PeakFlopsPerSecond(TestL4(), Precision::kBf16, k), 121e12);
  // A100: no FP8 path, weight-only FP8 runs 16-bit GEMMs.
  EXPECT_DOUBLE_EQ(PeakFlopsPerSecond(TestA100(), Precision::kFp8, k), 312e12);
  EXPECT_DOUBLE_EQ(PeakFlopsPerSecond(TestA100(), Precision::kInt8, k),
                   624e12 * k.int8_compute_efficiency);
  Accelerator throttled = TestL4();
  throttled.sustained_compute_fraction = 0.5;
  EXPECT_DOUBLE_EQ(PeakFlopsPerSecond(throttled, Precision::kFp8, k), 0.5 * 242.5e12);
}

TEST(PerformanceModelTest, LatencyGrowsWithConcurrency) {
  const ModelConstants k;
  const ResolvedWorkload w = Llama8B(Precision::kFp8);
  const LlmPerformanceModel l4(w, TestL4(), 1, k);
  double previous_tpot = 0, previous_ttft = 0;
  for (double b : {1, 2, 8, 32, 64, 128}) {
    EXPECT_GT(l4.TpotSeconds(b), previous_tpot);
    EXPECT_GT(l4.TtftSeconds(b), previous_ttft);
    previous_tpot = l4.TpotSeconds(b);
    previous_ttft = l4.TtftSeconds(b);
  }
}

TEST(PerformanceModelTest, MaxConcurrencyIsTheLargestThatMeetsTheSlo) {
  const ModelConstants k;
  const ResolvedWorkload w = Llama8B(Precision::kFp8);
  const LlmPerformanceModel l4(w, TestL4(), 1, k);
  Slo slo;
  slo.tpot_ms = 60;
  const double cap = l4.MaxConcurrency(slo, 256);
  ASSERT_GE(cap, 1);
  EXPECT_LE(l4.TpotSeconds(cap) * 1e3, 60);
  EXPECT_GT(l4.TpotSeconds(cap + 1) * 1e3, 60);
  // No SLO: the limit itself. Impossible SLO: zero.
  EXPECT_EQ(l4.MaxConcurrency(Slo{}, 100), 100);
  slo.tpot_ms = 1;
  EXPECT_EQ(l4.MaxConcurrency(slo, 256), 0);
}

TEST(PerformanceModelTest, MixtureOfExpertsReadsFewerWeightsAtBatchOne) {
  const ModelConstants k;
  ResolvedWorkload dense = Llama8B(Precision::kBf16);
  dense.architecture.parameters_billion = 46.7;
  ResolvedWorkload moe = dense;
  moe.architecture.experts = 8;
  moe.architecture.active_experts = 2;
  moe.architecture.active_parameters_billion = 12.9;
  Accelerator big = TestA100();
  const LlmPerformanceModel d(dense, big, 1, k), m(moe, big, 1, k);
  // Batch 1 touches 2 of 8 experts; a large batch touches them all.
  EXPECT_LT(m.StepSeconds(1, 0, 0), 0.45 * d.StepSeconds(1, 0, 0));
  EXPECT_NEAR(m.StepSeconds(64, 0, 0), d.StepSeconds(64, 0, 0), 0.35 * d.StepSeconds(64, 0, 0));
}

TEST(PerformanceModelTest, TensorParallelismSpeedsUpButNotLinearly) {
  const ModelConstants k;
  ResolvedWorkload w = Llama8B(Precision::kBf16);
  w.architecture = gpufit::testing::Llama3_70B();
  const LlmPerformanceModel tp2(w, TestA100(), 2, k), tp4(w, TestA100(), 4, k);
  const double speedup = tp2.StepSeconds(1, 512, 0) / tp4.StepSeconds(1, 512, 0);
  EXPECT_GT(speedup, 1.3);
  EXPECT_LT(speedup, 2.0);
}

}  // namespace
}  // namespace gpufit::core

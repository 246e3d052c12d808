#include "core/memory_model.h"

#include "core/units.h"
#include "gtest/gtest.h"
#include "test_catalog.h"

namespace gpufit::core {
namespace {

using ::gpufit::testing::Llama3_8B;

TEST(MemoryModelTest, KvBytesPerTokenMatchesReferenceData) {
  // reference-gpu-model-data.yaml: Meta-Llama-3-8B kv_bytes_per_token_fp16: 131072.
  EXPECT_DOUBLE_EQ(KvBytesPerToken(Llama3_8B(), Precision::kFp16), 131072);
  EXPECT_DOUBLE_EQ(KvBytesPerToken(Llama3_8B(), Precision::kFp8), 65536);
}

TEST(MemoryModelTest, QuantisedWeightsKeepEmbeddingsIn16Bit) {
  const ModelArchitecture a = Llama3_8B();
  EXPECT_NEAR(WeightBytes(a, Precision::kBf16) / 1e9, 16.06, 0.01);  // reference bf16_weight_gb
  // 2 x 128256 x 4096 embedding + lm_head parameters stay 2 bytes.
  const double embeddings = 2.0 * 128256 * 4096;
  EXPECT_NEAR(WeightBytes(a, Precision::kFp8), (8.03e9 - embeddings) * 1 + embeddings * 2, 1);
  EXPECT_LT(WeightBytes(a, Precision::kInt4), WeightBytes(a, Precision::kInt8));
}

TEST(MemoryModelTest, SlidingWindowCapsKvPerSequence) {
  ModelArchitecture a = Llama3_8B();
  EXPECT_EQ(KvTokensPerSequence(a, 32768), 32768);
  a.sliding_window_tokens = 4096;
  EXPECT_EQ(KvTokensPerSequence(a, 32768), 4096);
  EXPECT_EQ(KvTokensPerSequence(a, 1000), 1000);
}

TEST(MemoryModelTest, VllmBudgetWorkedExample) {
  // reference data vllm_rule.worked_example_measured: Llama-3-8B BF16 on A100-40GB,
  // 39.50 GiB x 0.90 = 35.55 GiB budget, weights 14.96 GiB.
  Catalog catalog = gpufit::testing::TestCatalog();
  ResolvedWorkload w;
  w.architecture = Llama3_8B();
  w.weight_precision = Precision::kBf16;
  w.input_tokens = 512;
  w.output_tokens = 256;
  Accelerator a100_40 = gpufit::testing::TestA100();
  a100_40.memory_gib = 39.50;
  const InferenceFootprint f = LlmFootprint(w, a100_40, 1, catalog.policy().model);
  EXPECT_NEAR(f.usable_gib, 35.55, 0.01);
  EXPECT_NEAR(f.weights_gib, 14.96, 0.01);
  // Tensor parallelism shards weights and KV heads.
  const InferenceFootprint f2 = LlmFootprint(w, a100_40, 2, catalog.policy().model);
  EXPECT_NEAR(f2.weights_gib, f.weights_gib / 2, 1e-9);
  EXPECT_NEAR(f2.kv_gib_per_token, f.kv_gib_per_token / 2, 1e-12);
  EXPECT_GT(f2.kv_capacity_tokens(), 2 * f.kv_capacity_tokens());
}

TEST(MemoryModelTest, TrainingNeedsFarMoreThanInference) {
  ResolvedWorkload w;
  w.architecture = Llama3_8B();
  w.task = Task::kFineTuneFull;
  w.training.micro_batch_size = 1;
  w.training.sequence_tokens = 2048;
  w.training.lora_rank = 16;
  const Accelerator a100 = gpufit::testing::TestA100();
  const ModelConstants k;
  const MemoryBreakdown full = TrainingMemory(w, a100, 1, k);
  // 16 bytes per parameter before activations (2 weights + 14 optimiser/gradient).
  EXPECT_NEAR(full.weights_gib + full.optimizer_gib, GiBFromBytes(8.03e9 * 16), 0.01);
  w.task = Task::kFineTuneLora;
  const MemoryBreakdown lora = TrainingMemory(w, a100, 1, k);
  w.task = Task::kFineTuneQlora;
  const MemoryBreakdown qlora = TrainingMemory(w, a100, 1, k);
  EXPECT_LT(lora.total_gib, full.total_gib / 3);
  EXPECT_LT(qlora.total_gib, lora.total_gib);
  EXPECT_LT(TrainableParameters(w), 0.01 * 8.03e9);  // adapters are < 1% of the model
}

}  // namespace
}  // namespace gpufit::core

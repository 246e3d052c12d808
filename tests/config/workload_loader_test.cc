#include "config/workload_loader.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "config/catalog_loader.h"
#include "core/resolved_workload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

// Message of a failed parse; fails the test if it parsed.
std::string ParseError(const std::string& yaml) {
  absl::StatusOr<core::Workload> w = ParseWorkloadYaml(yaml, "w.yaml");
  EXPECT_FALSE(w.ok()) << "parsed unexpectedly:\n" << yaml;
  if (w.ok()) return "";
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << w.status();
  return std::string(w.status().message());
}

core::Workload Parse(const std::string& yaml) {
  absl::StatusOr<core::Workload> w = ParseWorkloadYaml(yaml, "w.yaml");
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *w : core::Workload{};
}

TEST(ParseWorkloadTest, EveryField) {
  const core::Workload w = Parse(R"(
name: chat-llama3-8b
model: llama-3-8b
precision: fp8
kv_cache_precision: fp16
task: llm-inference
traffic:
  concurrency: 50
  requests_per_second: 12.5
  tokens_per_second: 3000
  tokens_per_day: 1e9
  input_tokens: 512
  output_tokens: 256
  max_context_tokens: 8192
slo: {ttft_ms: 2000, tpot_ms: 100}
training: {dataset_tokens: 5e8, epochs: 3, micro_batch_size: 4, sequence_tokens: 4096, lora_rank: 64}
objective: latency
isolation: dedicated
accelerators: [l4, a100-80gb, a100-80gb/3g.40gb]
max_gpus_per_replica: 4
)");
  EXPECT_EQ(w.name, "chat-llama3-8b");
  EXPECT_EQ(w.model, "llama-3-8b");
  EXPECT_FALSE(w.architecture.has_value());
  EXPECT_EQ(w.precision, core::Precision::kFp8);
  EXPECT_EQ(w.kv_cache_precision, core::Precision::kFp16);
  EXPECT_EQ(w.task, core::Task::kLlmInference);
  EXPECT_DOUBLE_EQ(w.traffic.concurrency, 50);
  EXPECT_DOUBLE_EQ(w.traffic.requests_per_second, 12.5);
  EXPECT_DOUBLE_EQ(w.traffic.tokens_per_second, 3000);
  EXPECT_DOUBLE_EQ(w.traffic.tokens_per_day, 1e9);
  EXPECT_EQ(w.traffic.input_tokens, 512);
  EXPECT_EQ(w.traffic.output_tokens, 256);
  EXPECT_EQ(w.traffic.max_context_tokens, 8192);
  EXPECT_DOUBLE_EQ(w.slo.ttft_ms, 2000);
  EXPECT_DOUBLE_EQ(w.slo.tpot_ms, 100);
  EXPECT_DOUBLE_EQ(w.training.dataset_tokens, 5e8);
  EXPECT_EQ(w.training.epochs, 3);
  EXPECT_EQ(w.training.micro_batch_size, 4);
  EXPECT_EQ(w.training.sequence_tokens, 4096);
  EXPECT_EQ(w.training.lora_rank, 64);
  EXPECT_EQ(w.objective, core::Objective::kLatency);
  EXPECT_EQ(w.isolation, core::Isolation::kDedicated);
  EXPECT_THAT(w.accelerators, ElementsAre("l4", "a100-80gb", "a100-80gb/3g.40gb"));
  EXPECT_EQ(w.max_gpus_per_replica, 4);
}

TEST(ParseWorkloadTest, MinimalWorkloadKeepsTheCoreDefaults) {
  const core::Workload w = Parse("model: mistral-7b\n");
  const core::Workload defaults;
  EXPECT_EQ(w.model, "mistral-7b");
  EXPECT_EQ(w.name, "");
  EXPECT_EQ(w.precision, defaults.precision);
  EXPECT_FALSE(w.kv_cache_precision.has_value());
  EXPECT_FALSE(w.task.has_value());
  EXPECT_EQ(w.objective, defaults.objective);
  EXPECT_EQ(w.isolation, defaults.isolation);
  EXPECT_DOUBLE_EQ(w.traffic.concurrency, 0);
  EXPECT_EQ(w.training.epochs, defaults.training.epochs);
  EXPECT_EQ(w.training.lora_rank, defaults.training.lora_rank);
  EXPECT_TRUE(w.accelerators.empty());
}

TEST(ParseWorkloadTest, InlineArchitecture) {
  const core::Workload w = Parse(R"(
name: custom-moe
architecture:
  parameters_billion: 46.7
  layers: 32
  hidden_size: 4096
  intermediate_size: 14336
  attention_heads: 32
  kv_heads: 8
  head_dim: 128
  vocab_size: 32000
  tied_embeddings: false
  sliding_window_tokens: 4096
  experts: 8
  active_experts: 2
  active_parameters_billion: 12.9
precision: int4
task: fine-tune-qlora
)");
  EXPECT_TRUE(w.model.empty());
  ASSERT_TRUE(w.architecture.has_value());
  const core::ModelArchitecture& a = *w.architecture;
  EXPECT_DOUBLE_EQ(a.parameters_billion, 46.7);
  EXPECT_EQ(a.layers, 32);
  EXPECT_EQ(a.hidden_size, 4096);
  EXPECT_EQ(a.intermediate_size, 14336);
  EXPECT_EQ(a.attention_heads, 32);
  EXPECT_EQ(a.kv_heads, 8);
  EXPECT_EQ(a.head_dim, 128);
  EXPECT_EQ(a.vocab_size, 32000);
  EXPECT_FALSE(a.tied_embeddings);
  EXPECT_EQ(a.sliding_window_tokens, 4096);
  EXPECT_EQ(a.experts, 8);
  EXPECT_EQ(a.active_experts, 2);
  EXPECT_DOUBLE_EQ(a.active_parameters_billion, 12.9);
  EXPECT_TRUE(a.is_moe());
  EXPECT_EQ(w.precision, core::Precision::kInt4);
  EXPECT_EQ(w.task, core::Task::kFineTuneQlora);
}

TEST(ParseWorkloadTest, ModelIdIsNotCheckedHere) {
  // Unknown ids are core::ResolveWorkload's to report, with the catalog's list of ids.
  const core::Workload w = Parse("model: llama-9\n");
  EXPECT_EQ(w.model, "llama-9");
}

TEST(ParseWorkloadTest, ParsedWorkloadResolvesAgainstTheDefaultCatalog) {
  const core::Workload w =
      Parse("name: chat\nmodel: llama-3-8b\nprecision: fp8\ntraffic: {concurrency: 50}\n");
  absl::StatusOr<core::ResolvedWorkload> r = core::ResolveWorkload(w, *DefaultCatalog());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->architecture.hidden_size, 4096);
  EXPECT_DOUBLE_EQ(r->concurrency, 50);
}

// --- Errors: FILE:LINE: field.path: reason ------------------------------------------------------

TEST(ParseWorkloadErrorTest, NegativeOrZeroConcurrency) {
  EXPECT_EQ(ParseError("name: chat\nmodel: llama-3-8b\ntraffic:\n  input_tokens: 10\n"
                       "  output_tokens: 10\n\n  concurrency: -5\n"),
            "w.yaml:7: traffic.concurrency: must be > 0");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {concurrency: 0}\n"),
            "w.yaml:2: traffic.concurrency: must be > 0");
}

TEST(ParseWorkloadErrorTest, UnknownEnumValuesListTheChoices) {
  EXPECT_EQ(ParseError("name: chat\nmodel: llama-3-8b\nprecision: fp9\n"),
            "w.yaml:3: precision: unknown 'fp9' (one of fp32, bf16, fp16, fp8, int8, int4)");
  EXPECT_EQ(ParseError("model: llama-3-8b\nkv_cache_precision: fp4\n"),
            "w.yaml:2: kv_cache_precision: unknown 'fp4' (one of fp32, bf16, fp16, fp8, int8, "
            "int4)");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntask: chat\n"),
            "w.yaml:2: task: unknown 'chat' (one of llm-inference, embedding, speech-to-text, "
            "image-generation, fine-tune-lora, fine-tune-qlora, fine-tune-full, pretrain)");
  EXPECT_EQ(ParseError("model: llama-3-8b\nobjective: cheap\n"),
            "w.yaml:2: objective: unknown 'cheap' (one of cost, latency, throughput)");
  EXPECT_EQ(ParseError("model: llama-3-8b\nisolation: strict\n"),
            "w.yaml:2: isolation: unknown 'strict' (one of shared, dedicated)");
}

TEST(ParseWorkloadErrorTest, UnknownKeys) {
  EXPECT_EQ(ParseError("name: chat\nmodel: llama-3-8b\ntraffic:\n  input_tokens: 100\n"
                       "  concurency: 5\n"),
            "w.yaml:5: traffic.concurency: unknown field");
  EXPECT_EQ(ParseError("model: llama-3-8b\nreplicas: 3\n"), "w.yaml:2: replicas: unknown field");
  EXPECT_EQ(ParseError("architecture: {parameters_billion: 7, layerz: 32}\n"),
            "w.yaml:1: architecture.layerz: unknown field");
  EXPECT_EQ(ParseError("model: llama-3-8b\nslo: {ttft: 200}\n"),
            "w.yaml:2: slo.ttft: unknown field");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraining:\n  epoch: 2\n"),
            "w.yaml:3: training.epoch: unknown field");
}

TEST(ParseWorkloadErrorTest, ModelAndArchitecture) {
  EXPECT_EQ(ParseError("model: llama-3-8b\narchitecture:\n  parameters_billion: 8\n"),
            "w.yaml:3: architecture: cannot be combined with model (give a preset id or an "
            "architecture, not both)");
  EXPECT_EQ(ParseError("name: chat\nprecision: fp8\n"),
            "w.yaml:1: model: required (a preset id), or give architecture instead");
  EXPECT_EQ(ParseError("architecture: {layers: 32}\n"),
            "w.yaml:1: architecture.parameters_billion: required");
  EXPECT_EQ(ParseError("architecture: {parameters_billion: 7, attention_heads: 8, kv_heads: 16}\n"),
            "w.yaml:1: architecture.kv_heads: must be <= attention_heads (8)");
  EXPECT_EQ(ParseError("architecture: {parameters_billion: 7, experts: 2, active_experts: 4}\n"),
            "w.yaml:1: architecture.active_experts: must be <= experts (2)");
}

TEST(ParseWorkloadErrorTest, TypesAndRanges) {
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {concurrency: fifty}\n"),
            "w.yaml:2: traffic.concurrency: must be a number");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {concurrency: \"50\"}\n"),
            "w.yaml:2: traffic.concurrency: must be a number");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {tokens_per_second: .inf}\n"),
            "w.yaml:2: traffic.tokens_per_second: must be a finite number");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {requests_per_second: .NaN}\n"),
            "w.yaml:2: traffic.requests_per_second: must be a finite number");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {tokens_per_day: -1}\n"),
            "w.yaml:2: traffic.tokens_per_day: must be >= 0");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {input_tokens: 1.5}\n"),
            "w.yaml:2: traffic.input_tokens: must be an integer");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {output_tokens: -1}\n"),
            "w.yaml:2: traffic.output_tokens: must be >= 0");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: {max_context_tokens: 99999999999}\n"),
            "w.yaml:2: traffic.max_context_tokens: must be an integer");
  EXPECT_EQ(ParseError("model: llama-3-8b\nslo: {tpot_ms: -3}\n"),
            "w.yaml:2: slo.tpot_ms: must be >= 0");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraining: {epochs: 0}\n"),
            "w.yaml:2: training.epochs: must be > 0");
  EXPECT_EQ(ParseError("model: llama-3-8b\nmax_gpus_per_replica: -1\n"),
            "w.yaml:2: max_gpus_per_replica: must be >= 0");
  EXPECT_EQ(ParseError("model: llama-3-8b\naccelerators: l4\n"),
            "w.yaml:2: accelerators: must be a list, got a scalar");
  EXPECT_EQ(ParseError("model: llama-3-8b\naccelerators:\n  - l4\n  - {id: t4}\n"),
            "w.yaml:4: accelerators[1]: must be a string");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: 50\n"),
            "w.yaml:2: traffic: must be a mapping, got a scalar");
  EXPECT_EQ(ParseError("model:\nname: x\n"), "w.yaml:1: model: has no value");
  EXPECT_EQ(ParseError("model: llama-3-8b\ntraffic: ~\n"), "w.yaml:2: traffic: has no value");
  EXPECT_EQ(ParseError("model: ''\n"), "w.yaml:1: model: must not be empty");
  EXPECT_EQ(ParseError("architecture: {parameters_billion: 7, tied_embeddings: maybe}\n"),
            "w.yaml:1: architecture.tied_embeddings: must be true or false");
  EXPECT_EQ(ParseError("model: a\nmodel: b\n"), "w.yaml:2: model: duplicate field");
}

TEST(ParseWorkloadErrorTest, DocumentErrors) {
  EXPECT_THAT(ParseError("name: chat\nmodel: llama-3-8b\ntraffic: {concurrency: 5\n"),
              StartsWith("w.yaml:4: invalid YAML: "));
  EXPECT_THAT(ParseError("name: chat\n  model: x\n"), StartsWith("w.yaml:2: invalid YAML: "));
  EXPECT_EQ(ParseError(""), "w.yaml: empty document (expected a mapping of workload fields)");
  EXPECT_EQ(ParseError("- model: llama-3-8b\n"),
            "w.yaml:1: expected a mapping of workload fields at top level, got a list");
  EXPECT_EQ(ParseError("llama-3-8b\n"),
            "w.yaml:1: expected a mapping of workload fields at top level, got a scalar");
}

// --- Files and document kind ---------------------------------------------------------------------

TEST(LoadWorkloadFileTest, MissingFileIsNotFound) {
  absl::StatusOr<core::Workload> w = LoadWorkloadFile("/nonexistent/chat.yaml");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(w.status().message(), "/nonexistent/chat.yaml: cannot read: No such file or directory");
}

TEST(LoadWorkloadFileTest, DirectoryIsNotFound) {
  absl::StatusOr<core::Workload> w = LoadWorkloadFile(testing::TempDir());
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(w.status().message()),
              StartsWith(testing::TempDir() + ": cannot read: "));
}

TEST(LoadWorkloadFileTest, ReadsAndNamesTheFile) {
  const std::string path = testing::TempDir() + "/gpufit_workload.yaml";
  {
    std::ofstream out(path);
    out << "name: chat\nmodel: llama-3-8b\ntraffic:\n  concurrency: -1\n";
  }
  absl::StatusOr<core::Workload> w = LoadWorkloadFile(path);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().message(), path + ":4: traffic.concurrency: must be > 0");
  {
    std::ofstream out(path);
    out << "name: chat\nmodel: llama-3-8b\n";
  }
  w = LoadWorkloadFile(path);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->name, "chat");
}

TEST(LooksLikeCatalogTest, TellsCatalogsFromWorkloads) {
  std::ifstream in(std::string(GPUFIT_SOURCE_DIR) + "/configs/catalog.yaml");
  std::stringstream catalog;
  catalog << in.rdbuf();
  EXPECT_TRUE(LooksLikeCatalog(catalog.str()));
  EXPECT_TRUE(LooksLikeCatalog("prices: {l4: 0.6}\n"));
  EXPECT_TRUE(LooksLikeCatalog("policy: {replica_headroom: 0.2}\n"));
  EXPECT_TRUE(LooksLikeCatalog("accelerators:\n  - {id: l4, price_usd_per_hour: 0.6}\n"));
  // A workload's `accelerators` is an allow-list of ids, not catalog entries.
  EXPECT_FALSE(LooksLikeCatalog("model: llama-3-8b\naccelerators: [l4, a100-80gb]\n"));
  EXPECT_FALSE(LooksLikeCatalog("model: llama-3-8b\n"));
  EXPECT_FALSE(LooksLikeCatalog(""));
  EXPECT_FALSE(LooksLikeCatalog("{unclosed"));
  EXPECT_FALSE(LooksLikeCatalog("- a\n- b\n"));
}

}  // namespace
}  // namespace gpufit::config

#include "config/catalog_loader.h"

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(GPUFIT_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Message of a failed overlay load; fails the test if it loaded.
std::string OverlayError(const std::string& yaml,
                         absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  absl::StatusOr<std::shared_ptr<const core::Catalog>> c = LoadCatalogOverlay(yaml, "my.yaml");
  EXPECT_FALSE(c.ok()) << "loaded unexpectedly:\n" << yaml;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), code) << c.status();
  return std::string(c.status().message());
}

std::shared_ptr<const core::Catalog> Overlay(const std::string& yaml) {
  absl::StatusOr<std::shared_ptr<const core::Catalog>> c = LoadCatalogOverlay(yaml, "my.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : DefaultCatalog();
}

std::vector<std::string> WholeGpuIds(const core::Catalog& c) {
  std::vector<std::string> ids;
  for (const core::Accelerator& a : c.accelerators()) {
    if (!a.is_mig_slice()) ids.push_back(a.id);
  }
  return ids;
}

// --- The default catalog -------------------------------------------------------------------

TEST(DefaultCatalogTest, HasTheEightGpusInOrder) {
  EXPECT_THAT(WholeGpuIds(*DefaultCatalog()), ElementsAre("t4", "l4", "a10g", "l40s", "a100-40gb",
                                                          "a100-80gb", "h100-80gb", "h200-141gb"));
}

TEST(DefaultCatalogTest, HasTheTwentyPresetsInOrder) {
  std::vector<std::string> ids;
  for (const core::ModelPreset& p : DefaultCatalog()->presets()) ids.push_back(p.id);
  EXPECT_THAT(
      ids, ElementsAre("llama-3-8b", "llama-3-70b", "llama-3.1-405b", "llama-2-7b", "llama-2-13b",
                       "llama-2-70b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-14b",
                       "qwen2.5-72b", "gemma-2-9b", "phi-3-mini", "gpt-j-6b", "bge-large",
                       "e5-large", "whisper-large-v3", "sd-1.5", "sdxl", "flux.1-dev"));
}

TEST(DefaultCatalogTest, IsParsedOnce) { EXPECT_EQ(DefaultCatalog(), DefaultCatalog()); }

TEST(DefaultCatalogTest, DerivesMigSlicesFromProfiles) {
  const auto catalog = DefaultCatalog();
  // 4 MIG-capable GPUs x 6 profiles each, plus the 8 whole GPUs.
  EXPECT_EQ(catalog->accelerators().size(), 8u + 4u * 6u);

  const core::Accelerator* slice = catalog->FindAccelerator("a100-80gb/1g.10gb");
  ASSERT_NE(slice, nullptr);
  EXPECT_EQ(slice->parent_id, "a100-80gb");
  EXPECT_EQ(slice->mig_profile, "1g.10gb");
  EXPECT_DOUBLE_EQ(slice->memory_gib, 10.0);  // 1/8 of 80 GiB
  EXPECT_DOUBLE_EQ(slice->price_usd_per_hour, 1.79 / 7);

  for (const char* id : {"a100-40gb/1g.5gb", "a100-40gb/7g.40gb", "a100-80gb/3g.40gb",
                         "h100-80gb/2g.20gb", "h200-141gb/1g.18gb", "h200-141gb/7g.141gb"}) {
    EXPECT_NE(catalog->FindAccelerator(id), nullptr) << id;
  }
  EXPECT_EQ(catalog->FindAccelerator("l4/1g.10gb"), nullptr);
  EXPECT_TRUE(catalog->FindAccelerator("l4")->mig_profiles.empty());
}

TEST(DefaultCatalogTest, AcceleratorValuesMatchTheSources) {
  const auto catalog = DefaultCatalog();
  const core::Accelerator& l4 = *catalog->FindAccelerator("l4");
  EXPECT_DOUBLE_EQ(l4.memory_gib, 23034.0 / 1024);  // GFD nvidia.com/gpu.memory
  EXPECT_DOUBLE_EQ(l4.memory_bandwidth_gbps, 300);
  EXPECT_DOUBLE_EQ(l4.price_usd_per_hour, 0.50);
  EXPECT_TRUE(l4.has_fp8());
  EXPECT_FALSE(l4.has_nvlink());
  EXPECT_EQ(l4.video_decoders, 4);

  const core::Accelerator& t4 = *catalog->FindAccelerator("t4");
  EXPECT_DOUBLE_EQ(t4.sustained_compute_fraction, 0.37);
  EXPECT_FALSE(t4.has_fp8());

  const core::Accelerator& a100 = *catalog->FindAccelerator("a100-80gb");
  EXPECT_DOUBLE_EQ(a100.memory_bandwidth_gbps, 2039);
  EXPECT_DOUBLE_EQ(a100.price_usd_per_hour, 1.79);
  EXPECT_FALSE(a100.has_fp8());
  EXPECT_DOUBLE_EQ(a100.nvlink_gbps, 600);
  EXPECT_EQ(a100.video_decoders, 0);  // seed: A100 "NVDEC: No"
  EXPECT_EQ(a100.video_encoders, 0);

  const core::Accelerator& h100 = *catalog->FindAccelerator("h100-80gb");
  EXPECT_DOUBLE_EQ(h100.memory_gib, 81559.0 / 1024);
  EXPECT_DOUBLE_EQ(h100.fp8_tflops, 1979);
  EXPECT_DOUBLE_EQ(h100.nvlink_gbps, 900);
  EXPECT_DOUBLE_EQ(catalog->FindAccelerator("h200-141gb")->memory_gib, 143771.0 / 1024);

  for (const core::Accelerator& a : catalog->accelerators()) {
    if (a.is_mig_slice()) continue;
    EXPECT_EQ(a.gpus_per_node, 8) << a.id;
    EXPECT_GT(a.price_usd_per_hour, 0) << a.id;
  }
}

TEST(DefaultCatalogTest, PresetValuesMatchTheSources) {
  const auto catalog = DefaultCatalog();
  const core::ModelPreset& llama = *catalog->FindPreset("llama-3-8b");
  EXPECT_EQ(llama.task, core::Task::kLlmInference);
  EXPECT_EQ(llama.architecture.hidden_size, 4096);
  EXPECT_EQ(llama.architecture.kv_heads, 8);
  EXPECT_EQ(llama.architecture.vocab_size, 128256);
  EXPECT_EQ(llama.max_context_tokens, 8192);

  const core::ModelPreset& mixtral = *catalog->FindPreset("mixtral-8x7b");
  EXPECT_TRUE(mixtral.architecture.is_moe());
  EXPECT_DOUBLE_EQ(mixtral.architecture.parameters_billion, 46.7);
  EXPECT_DOUBLE_EQ(mixtral.architecture.active_parameters_billion, 12.9);

  EXPECT_EQ(catalog->FindPreset("mistral-7b")->architecture.sliding_window_tokens, 4096);
  EXPECT_EQ(catalog->FindPreset("gemma-2-9b")->architecture.head_dim, 256);
  EXPECT_TRUE(catalog->FindPreset("gemma-2-9b")->architecture.tied_embeddings);

  const core::ModelPreset& sdxl = *catalog->FindPreset("sdxl");
  EXPECT_EQ(sdxl.task, core::Task::kImageGeneration);
  EXPECT_EQ(sdxl.item_unit, "image");
  ASSERT_EQ(sdxl.measured_rates.size(), 2u);
  EXPECT_EQ(sdxl.measured_rates[0].accelerator_id, "l4");
  EXPECT_DOUBLE_EQ(sdxl.measured_rates[0].items_per_second, 4.5 / 60);  // seed: 4-5/min
  EXPECT_EQ(sdxl.measured_rates[1].accelerator_id, "a100-80gb");
  EXPECT_DOUBLE_EQ(sdxl.measured_rates[1].items_per_second, 13.5 / 60);  // seed: 12-15/min

  EXPECT_EQ(catalog->FindPreset("whisper-large-v3")->item_unit, "audio-second");
  EXPECT_TRUE(catalog->FindPreset("whisper-large-v3")->measured_rates.empty());
  EXPECT_EQ(catalog->FindPreset("bge-large")->task, core::Task::kEmbedding);

  // The seed runs FLUX and SDXL on the L4, so their resident set plus the runtime overhead
  // must fit the L4's usable memory.
  const core::Policy& policy = catalog->policy();
  const double l4_usable =
      catalog->FindAccelerator("l4")->memory_gib * policy.model.gpu_memory_utilization;
  for (const char* id : {"flux.1-dev", "sdxl", "sd-1.5", "whisper-large-v3", "bge-large"}) {
    const core::ModelPreset& p = *catalog->FindPreset(id);
    EXPECT_LE(p.resident_memory_gib + p.per_item_memory_gib + policy.model.runtime_overhead_gib,
              l4_usable)
        << id;
  }
}

TEST(DefaultCatalogTest, PolicyMatchesTheCoreDefaults) {
  const core::Policy& got = DefaultCatalog()->policy();
  const core::Policy want;
  EXPECT_DOUBLE_EQ(got.model.memory_bandwidth_utilization, want.model.memory_bandwidth_utilization);
  EXPECT_DOUBLE_EQ(got.model.decode_mfu, want.model.decode_mfu);
  EXPECT_DOUBLE_EQ(got.model.prefill_mfu, want.model.prefill_mfu);
  EXPECT_DOUBLE_EQ(got.model.training_mfu, want.model.training_mfu);
  EXPECT_DOUBLE_EQ(got.model.step_overhead_ms, want.model.step_overhead_ms);
  EXPECT_DOUBLE_EQ(got.model.tensor_parallel_efficiency, want.model.tensor_parallel_efficiency);
  EXPECT_DOUBLE_EQ(got.model.allreduce_latency_us, want.model.allreduce_latency_us);
  EXPECT_DOUBLE_EQ(got.model.int8_compute_efficiency, want.model.int8_compute_efficiency);
  EXPECT_DOUBLE_EQ(got.model.gpu_memory_utilization, want.model.gpu_memory_utilization);
  EXPECT_DOUBLE_EQ(got.model.runtime_overhead_gib, want.model.runtime_overhead_gib);
  EXPECT_EQ(got.model.max_num_seqs, want.model.max_num_seqs);
  EXPECT_EQ(got.model.max_num_batched_tokens, want.model.max_num_batched_tokens);
  EXPECT_DOUBLE_EQ(got.replica_headroom, want.replica_headroom);
  EXPECT_DOUBLE_EQ(got.energy_usd_per_kwh, want.energy_usd_per_kwh);
  EXPECT_EQ(got.default_input_tokens, want.default_input_tokens);
  EXPECT_EQ(got.default_output_tokens, want.default_output_tokens);
  EXPECT_DOUBLE_EQ(got.default_dataset_tokens, want.default_dataset_tokens);
  EXPECT_EQ(got.default_micro_batch_size, want.default_micro_batch_size);
  EXPECT_EQ(got.default_sequence_tokens, want.default_sequence_tokens);
}

TEST(DefaultCatalogTest, VersionIsTheVersionFieldPlusATextHash) {
  const std::string text = ReadSourceFile("configs/catalog.yaml");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(DefaultCatalog()->version(), "2026.11-default+" + CatalogVersion(text));
}

TEST(DefaultCatalogTest, EveryNumberInTheFileCitesASource) {
  // "key: number" lines must carry a comment, or follow a comment that explains them.
  const std::string text = ReadSourceFile("configs/catalog.yaml");
  const std::regex number_line(R"(^\s*[a-z_0-9]+: [-+0-9.]+\s*(#.*)?$)");
  std::istringstream lines(text);
  std::string line, previous;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (std::regex_match(line, number_line) && line.find('#') == std::string::npos) {
      EXPECT_NE(previous.find('#'), std::string::npos)
          << "configs/catalog.yaml:" << number << " has no source comment: " << line;
    }
    if (!line.empty()) previous = line;
  }
}

TEST(DefaultCatalogTest, TheSourceFileLoadsAsANoOpOverlay) {
  const auto c = Overlay(ReadSourceFile("configs/catalog.yaml"));
  EXPECT_EQ(c->accelerators().size(), DefaultCatalog()->accelerators().size());
  EXPECT_EQ(c->presets().size(), DefaultCatalog()->presets().size());
}

TEST(CatalogVersionTest, IsAStableTwelveDigitHexHash) {
  const std::string v = CatalogVersion("version: x\n");
  EXPECT_EQ(v.size(), 12u);
  EXPECT_TRUE(std::regex_match(v, std::regex("[0-9a-f]{12}")));
  EXPECT_EQ(v, CatalogVersion("version: x\n"));
  EXPECT_NE(v, CatalogVersion("version: y\n"));
  // FNV-1a 64 of the empty string is the offset basis cbf29ce484222325.
  EXPECT_EQ(CatalogVersion(""), "cbf29ce48422");
}

// --- Overlays ------------------------------------------------------------------------------

TEST(CatalogOverlayTest, PricesOverrideByAcceleratorId) {
  const auto c = Overlay("prices: {l4: 0.62, a100-80gb: 1.5}\n");
  EXPECT_DOUBLE_EQ(c->FindAccelerator("l4")->price_usd_per_hour, 0.62);
  EXPECT_DOUBLE_EQ(c->FindAccelerator("a100-80gb")->price_usd_per_hour, 1.5);
  // Slices are re-derived from the new parent price.
  EXPECT_DOUBLE_EQ(c->FindAccelerator("a100-80gb/1g.10gb")->price_usd_per_hour, 1.5 / 7);
  // Everything else stays as in the default.
  EXPECT_DOUBLE_EQ(c->FindAccelerator("t4")->price_usd_per_hour, 0.40);
  EXPECT_DOUBLE_EQ(c->FindAccelerator("l4")->memory_bandwidth_gbps, 300);
  EXPECT_THAT(c->version(), StartsWith("2026.11-default+"));
  EXPECT_NE(c->version(), DefaultCatalog()->version());
  // The default itself is untouched.
  EXPECT_DOUBLE_EQ(DefaultCatalog()->FindAccelerator("l4")->price_usd_per_hour, 0.50);
}

TEST(CatalogOverlayTest, UnknownPriceIdIsAnError) {
  EXPECT_EQ(OverlayError("prices:\n  l4: 0.6\n  h100-pcie: 2.0\n"),
            "my.yaml:3: prices.h100-pcie: unknown accelerator 'h100-pcie'");
  EXPECT_EQ(OverlayError("prices: {a100-80gb/1g.10gb: 0.3}\n"),
            "my.yaml:1: prices.a100-80gb/1g.10gb: unknown accelerator 'a100-80gb/1g.10gb' "
            "(MIG slices are priced from their parent GPU)");
  EXPECT_EQ(OverlayError("prices:\n  l4: -1\n"), "my.yaml:2: prices.l4: must be > 0");
  EXPECT_EQ(OverlayError("prices:\n  l4: cheap\n"), "my.yaml:2: prices.l4: must be a number");
  // A price that would abort the fleet solver (CLP asserts |cost| < 1e25) never loads.
  EXPECT_EQ(OverlayError("prices:\n  l4: 1e30\n"), "my.yaml:2: prices.l4: must be <= 10000");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    price_usd_per_hour: 1e30\n"),
            "my.yaml:3: accelerators[0].price_usd_per_hour: must be <= 10000");
}

TEST(CatalogOverlayTest, ExistingAcceleratorOverridesOnlyTheGivenFields) {
  const auto c = Overlay(
      "accelerators:\n"
      "  - id: l4\n"
      "    memory_bandwidth_gbps: 320\n"
      "    price_usd_per_hour: 0.7\n");
  const core::Accelerator& l4 = *c->FindAccelerator("l4");
  EXPECT_DOUBLE_EQ(l4.memory_bandwidth_gbps, 320);
  EXPECT_DOUBLE_EQ(l4.price_usd_per_hour, 0.7);
  EXPECT_DOUBLE_EQ(l4.fp16_tflops, 121);
  EXPECT_EQ(l4.display_name, "NVIDIA L4");
  EXPECT_EQ(WholeGpuIds(*c).size(), 8u);
}

TEST(CatalogOverlayTest, PricesSectionWinsOverAcceleratorPrice) {
  const auto c = Overlay(
      "prices: {l4: 0.9}\n"
      "accelerators:\n"
      "  - {id: l4, price_usd_per_hour: 0.7}\n");
  EXPECT_DOUBLE_EQ(c->FindAccelerator("l4")->price_usd_per_hour, 0.9);
}

TEST(CatalogOverlayTest, MigProfilesListReplacesTheDefault) {
  const auto c = Overlay(
      "accelerators:\n"
      "  - id: a100-80gb\n"
      "    mig_profiles:\n"
      "      - {name: 3g.40gb, compute_slices: 3, memory_slices: 4, max_instances: 2}\n"
      "  - id: h100-80gb\n"
      "    mig_profiles: []\n");
  EXPECT_NE(c->FindAccelerator("a100-80gb/3g.40gb"), nullptr);
  EXPECT_EQ(c->FindAccelerator("a100-80gb/1g.10gb"), nullptr);
  EXPECT_EQ(c->FindAccelerator("h100-80gb/1g.10gb"), nullptr);
  EXPECT_NE(c->FindAccelerator("h200-141gb/1g.18gb"), nullptr);
}

constexpr char kNewGpu[] =
    "accelerators:\n"
    "  - id: b200\n"
    "    display_name: NVIDIA B200\n"
    "    architecture: Blackwell\n"
    "    memory_gib: 178.0\n"
    "    memory_bandwidth_gbps: 8000\n"
    "    fp16_tflops: 2250\n"
    "    fp8_tflops: 4500\n"
    "    int8_tops: 4500\n"
    "    tdp_watts: 1000\n"
    "    nvlink_gbps: 1800\n"
    "    gpus_per_node: 8\n"
    "    price_usd_per_hour: 5.5\n"
    "    mig_profiles:\n"
    "      - {name: 1g.23gb, compute_slices: 1, memory_slices: 1, max_instances: 7}\n";

TEST(CatalogOverlayTest, NewAcceleratorIsAppendedWithItsSlices) {
  const auto c = Overlay(kNewGpu);
  EXPECT_EQ(WholeGpuIds(*c).back(), "b200");
  const core::Accelerator& b200 = *c->FindAccelerator("b200");
  EXPECT_EQ(b200.display_name, "NVIDIA B200");
  EXPECT_DOUBLE_EQ(b200.memory_gib, 178.0);
  EXPECT_DOUBLE_EQ(b200.sustained_compute_fraction, 1.0);  // default when not given
  EXPECT_EQ(b200.video_decoders, 0);
  const core::Accelerator* slice = c->FindAccelerator("b200/1g.23gb");
  ASSERT_NE(slice, nullptr);
  EXPECT_DOUBLE_EQ(slice->memory_gib, 178.0 / 8);
}

TEST(CatalogOverlayTest, NewAcceleratorMustBeComplete) {
  EXPECT_EQ(OverlayError("accelerators:\n"
                         "  - id: b200\n"
                         "    display_name: NVIDIA B200\n"
                         "    price_usd_per_hour: 5.5\n"),
            "my.yaml:2: accelerators[0].architecture: required for new accelerator 'b200'");
}

TEST(CatalogOverlayTest, PresetsMergeAndAdd) {
  const auto c = Overlay(
      "presets:\n"
      "  - id: llama-3-8b\n"
      "    max_context_tokens: 131072\n"
      "    architecture: {vocab_size: 128000}\n"
      "  - id: tiny-llm\n"
      "    display_name: Tiny\n"
      "    task: llm-inference\n"
      "    architecture: {parameters_billion: 1.1, layers: 22, hidden_size: 2048,\n"
      "                   attention_heads: 32, kv_heads: 4, vocab_size: 32000}\n"
      "  - id: sdxl\n"
      "    measured_rates:\n"
      "      - {accelerator: h100-80gb, items_per_second: 0.6}\n"
      "      - {accelerator: a100-80gb/7g.80gb, items_per_second: 0.2}\n");
  const core::ModelPreset& llama = *c->FindPreset("llama-3-8b");
  EXPECT_EQ(llama.max_context_tokens, 131072);
  EXPECT_EQ(llama.architecture.vocab_size, 128000);
  EXPECT_EQ(llama.architecture.hidden_size, 4096);  // untouched
  const core::ModelPreset* tiny = c->FindPreset("tiny-llm");
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(tiny->architecture.kv_heads, 4);
  EXPECT_EQ(c->presets().back().id, "tiny-llm");
  ASSERT_EQ(c->FindPreset("sdxl")->measured_rates.size(), 2u);
  EXPECT_EQ(c->FindPreset("sdxl")->measured_rates[0].accelerator_id, "h100-80gb");
}

TEST(CatalogOverlayTest, PresetErrorsNameFieldAndLine) {
  EXPECT_EQ(OverlayError("presets:\n"
                         "  - id: sdxl\n"
                         "    measured_rates:\n"
                         "      - {accelerator: b300, items_per_second: 1}\n"),
            "my.yaml:4: presets[0].measured_rates[0].accelerator: unknown accelerator 'b300'");
  EXPECT_EQ(OverlayError("presets:\n"
                         "  - id: new-model\n"
                         "    display_name: New\n"
                         "    architecture: {layers: 2}\n"
                         "    task: llm-inference\n"),
            "my.yaml:4: presets[0].architecture.parameters_billion: required");
  EXPECT_EQ(OverlayError("presets:\n"
                         "  - id: llama-3-8b\n"
                         "    task: chat\n"),
            "my.yaml:3: presets[0].task: unknown 'chat' (one of llm-inference, embedding, "
            "speech-to-text, image-generation, fine-tune-lora, fine-tune-qlora, fine-tune-full, "
            "pretrain)");
  EXPECT_EQ(OverlayError("presets:\n"
                         "  - id: llama-3-8b\n"
                         "    architecture:\n"
                         "      kv_heads: 64\n"),
            "my.yaml:4: presets[0].architecture.kv_heads: must be <= attention_heads (32)");
}

TEST(CatalogOverlayTest, PolicyIsAPartialOverride) {
  const auto c = Overlay(
      "policy:\n"
      "  replica_headroom: 0.25\n"
      "  model:\n"
      "    gpu_memory_utilization: 0.92\n");
  EXPECT_DOUBLE_EQ(c->policy().replica_headroom, 0.25);
  EXPECT_DOUBLE_EQ(c->policy().model.gpu_memory_utilization, 0.92);
  EXPECT_DOUBLE_EQ(c->policy().model.memory_bandwidth_utilization, 0.80);
  EXPECT_EQ(c->policy().default_input_tokens, 512);
}

TEST(CatalogOverlayTest, VersionOverride) {
  const auto c = Overlay("version: acme-2027.01\n");
  EXPECT_THAT(c->version(), StartsWith("acme-2027.01+"));
}

// --- Error messages: FILE:LINE: field.path: reason ------------------------------------------

TEST(CatalogErrorTest, NonPositiveValueNamesIndexFieldAndLine) {
  std::string yaml = "# my fleet\nversion: mine\n";
  yaml += "accelerators:\n";                           // line 3
  yaml += "  - id: l4\n";                              // 4
  yaml += "    price_usd_per_hour: 0.6\n";             // 5
  yaml += "  - id: a100-80gb\n";                       // 6
  yaml += "    display_name: A100\n";                  // 7
  yaml += "    architecture: Ampere\n";                // 8
  yaml += "    # memory as reported by the driver\n";  // 9
  yaml += "\n";                                        // 10
  yaml += "    tdp_watts: 400\n";                      // 11
  yaml += "    memory_gib: 0\n";                       // 12
  EXPECT_EQ(OverlayError(yaml), "my.yaml:12: accelerators[1].memory_gib: must be > 0");
}

TEST(CatalogErrorTest, TypeAndRangeErrors) {
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    memory_gib: lots\n"),
            "my.yaml:3: accelerators[0].memory_gib: must be a number");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    memory_gib: \"24\"\n"),
            "my.yaml:3: accelerators[0].memory_gib: must be a number");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    memory_gib: .nan\n"),
            "my.yaml:3: accelerators[0].memory_gib: must be a finite number");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    fp16_tflops: .inf\n"),
            "my.yaml:3: accelerators[0].fp16_tflops: must be a finite number");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    fp8_tflops: -1\n"),
            "my.yaml:3: accelerators[0].fp8_tflops: must be >= 0");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: t4\n    sustained_compute_fraction: 1.5\n"),
            "my.yaml:3: accelerators[0].sustained_compute_fraction: must be in (0, 1]");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    gpus_per_node: 2.5\n"),
            "my.yaml:3: accelerators[0].gpus_per_node: must be an integer");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    video_decoders: -2\n"),
            "my.yaml:3: accelerators[0].video_decoders: must be >= 0");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    display_name: [a, b]\n"),
            "my.yaml:3: accelerators[0].display_name: must be a string");
  EXPECT_EQ(OverlayError("accelerators: {id: l4}\n"),
            "my.yaml:1: accelerators: must be a list, got a mapping");
  EXPECT_EQ(OverlayError("policy:\n  model:\n    decode_mfu: 0\n"),
            "my.yaml:3: policy.model.decode_mfu: must be in (0, 1]");
  EXPECT_EQ(OverlayError("policy:\n  default_input_tokens: 0\n"),
            "my.yaml:2: policy.default_input_tokens: must be > 0");
}

TEST(CatalogErrorTest, UnknownKeysAreRejected) {
  EXPECT_EQ(OverlayError("version: x\ngpus: []\n"), "my.yaml:2: gpus: unknown field");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4\n    memroy_gib: 24\n"),
            "my.yaml:3: accelerators[0].memroy_gib: unknown field");
  EXPECT_EQ(OverlayError("policy:\n  model:\n    mbu: 0.7\n"),
            "my.yaml:3: policy.model.mbu: unknown field");
  EXPECT_EQ(OverlayError("presets:\n  - id: sdxl\n    architecture: {params: 3}\n"),
            "my.yaml:3: presets[0].architecture.params: unknown field");
  EXPECT_EQ(OverlayError("accelerators:\n"
                         "  - id: a100-80gb\n"
                         "    mig_profiles:\n"
                         "      - {name: 1g.10gb, compute_slices: 1, memory_slices: 1,\n"
                         "         max_instances: 7, sm: 1}\n"),
            "my.yaml:5: accelerators[0].mig_profiles[0].sm: unknown field");
}

TEST(CatalogErrorTest, StructuralErrors) {
  EXPECT_EQ(OverlayError("accelerators:\n  - memory_gib: 24\n"),
            "my.yaml:2: accelerators[0].id: required");
  EXPECT_EQ(OverlayError("accelerators:\n  - id: l4/half\n"),
            "my.yaml:2: accelerators[0].id: must not contain '/' (reserved for MIG slice ids)");
  EXPECT_EQ(
      OverlayError("accelerators:\n  - {id: l4, tdp_watts: 70}\n  - {id: l4, tdp_watts: 75}\n"),
      "my.yaml:3: accelerators[1].id: duplicate accelerator id 'l4' in this file");
  EXPECT_EQ(OverlayError("version: a\nversion: b\n"), "my.yaml:2: version: duplicate field");
  EXPECT_EQ(OverlayError(
                "accelerators:\n"
                "  - id: a100-80gb\n"
                "    mig_profiles:\n"
                "      - {name: 9g.90gb, compute_slices: 9, memory_slices: 8, max_instances: 1}\n"),
            "my.yaml:4: accelerators[0].mig_profiles[0].compute_slices: must be <= 7");
  EXPECT_EQ(OverlayError("accelerators:\n"
                         "  - id: a100-80gb\n"
                         "    mig_profiles:\n"
                         "      - {name: 1g.10gb, compute_slices: 1, memory_slices: 1}\n"),
            "my.yaml:4: accelerators[0].mig_profiles[0].max_instances: required");
}

TEST(CatalogErrorTest, DocumentErrors) {
  EXPECT_THAT(OverlayError("accelerators:\n  - id: l4\n    memory_gib: [24\n"),
              StartsWith("my.yaml:4: invalid YAML: "));
  EXPECT_EQ(OverlayError(""), "my.yaml: empty document (expected a mapping of catalog fields)");
  EXPECT_EQ(OverlayError("# only a comment\n"),
            "my.yaml: empty document (expected a mapping of catalog fields)");
  EXPECT_EQ(OverlayError("- l4\n- a100\n"),
            "my.yaml:1: expected a mapping of catalog fields at top level, got a list");
}

TEST(CatalogErrorTest, CoreValidationErrorsNameTheFile) {
  // 2 compute slices x 4 instances exceeds the 7 slices of a GPU: caught by Catalog::Create.
  EXPECT_THAT(OverlayError("accelerators:\n"
                           "  - id: a100-80gb\n"
                           "    mig_profiles:\n"
                           "      - {name: 2g.20gb, compute_slices: 2, memory_slices: 2, "
                           "max_instances: 4}\n"),
              StartsWith("my.yaml: accelerators[5] (a100-80gb).mig_profiles[0].max_instances"));
}

// --- Files ------------------------------------------------------------------------------------

TEST(LoadCatalogFileTest, MissingFileIsNotFound) {
  absl::StatusOr<std::shared_ptr<const core::Catalog>> c =
      LoadCatalogFile("/nonexistent/gpufit/catalog.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "/nonexistent/gpufit/catalog.yaml: cannot read: No such file or directory");
}

TEST(LoadCatalogFileTest, ReadsAndNamesTheFile) {
  const std::string path = testing::TempDir() + "/gpufit_catalog_overlay.yaml";
  {
    std::ofstream out(path);
    out << "prices:\n  l4: 0.62\n  t4: 0\n";
  }
  absl::StatusOr<std::shared_ptr<const core::Catalog>> c = LoadCatalogFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), path + ":3: prices.t4: must be > 0");
  {
    std::ofstream out(path);
    out << "prices:\n  l4: 0.62\n";
  }
  c = LoadCatalogFile(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ((*c)->FindAccelerator("l4")->price_usd_per_hour, 0.62);
}

}  // namespace
}  // namespace gpufit::config

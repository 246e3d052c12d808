// A small hand-built catalog for core unit tests, independent of configs/catalog.yaml so
// that these tests pin the model's arithmetic, not the data file.
#ifndef GPUFIT_TESTS_CORE_TEST_CATALOG_H_
#define GPUFIT_TESTS_CORE_TEST_CATALOG_H_

#include "core/catalog.h"

namespace gpufit::testing {

inline core::Accelerator TestL4() {
  core::Accelerator a;
  a.id = "l4";
  a.display_name = "NVIDIA L4";
  a.memory_gib = 23034.0 / 1024;
  a.memory_bandwidth_gbps = 300;
  a.fp16_tflops = 121;
  a.fp8_tflops = 242.5;
  a.int8_tops = 242.5;
  a.tdp_watts = 72;
  a.gpus_per_node = 8;
  a.video_decoders = 4;
  a.price_usd_per_hour = 0.50;
  return a;
}

inline core::Accelerator TestA100() {
  core::Accelerator a;
  a.id = "a100-80gb";
  a.display_name = "NVIDIA A100 80GB";
  a.memory_gib = 80;
  a.memory_bandwidth_gbps = 2039;
  a.fp16_tflops = 312;
  a.int8_tops = 624;
  a.tdp_watts = 400;
  a.nvlink_gbps = 600;
  a.gpus_per_node = 8;
  a.price_usd_per_hour = 1.79;
  a.mig_profiles = {
      {"1g.10gb", 1, 1, 7}, {"2g.20gb", 2, 2, 3}, {"3g.40gb", 3, 4, 2}, {"7g.80gb", 7, 8, 1}};
  return a;
}

inline core::ModelArchitecture Llama3_8B() {
  core::ModelArchitecture m;
  m.parameters_billion = 8.03;
  m.layers = 32;
  m.hidden_size = 4096;
  m.intermediate_size = 14336;
  m.attention_heads = 32;
  m.kv_heads = 8;
  m.head_dim = 128;
  m.vocab_size = 128256;
  return m;
}

inline core::ModelArchitecture Llama3_70B() {
  core::ModelArchitecture m = Llama3_8B();
  m.parameters_billion = 70.55;
  m.layers = 80;
  m.hidden_size = 8192;
  m.intermediate_size = 28672;
  m.attention_heads = 64;
  return m;
}

inline core::Catalog TestCatalog() {
  core::ModelPreset llama;
  llama.id = "llama-3-8b";
  llama.architecture = Llama3_8B();
  llama.max_context_tokens = 8192;
  core::ModelPreset llama70;
  llama70.id = "llama-3-70b";
  llama70.architecture = Llama3_70B();
  llama70.max_context_tokens = 8192;
  return core::Catalog::Create({TestL4(), TestA100()}, {llama, llama70}, core::Policy{}, "test")
      .value();
}

// A chat workload on the preset, ready for ResolveWorkload.
inline core::Workload ChatWorkload(double concurrency) {
  core::Workload w;
  w.name = "chat";
  w.model = "llama-3-8b";
  w.precision = core::Precision::kFp8;
  w.traffic.concurrency = concurrency;
  w.traffic.input_tokens = 512;
  w.traffic.output_tokens = 256;
  return w;
}

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_CORE_TEST_CATALOG_H_

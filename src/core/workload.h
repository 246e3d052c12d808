// A workload: what to serve (or train), at what traffic, under which latency targets.
// This is the core's form of proto gpufit.v1.Workload (src/config converts YAML/proto to it).
#ifndef GPUFIT_CORE_WORKLOAD_H_
#define GPUFIT_CORE_WORKLOAD_H_

#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/precision.h"
#include "core/task.h"

namespace gpufit::core {

// Demand. Give concurrency, or a rate (requests/s, output tokens/s or tokens/day); with
// several, the largest requirement wins. Zero means "not given".
struct Traffic {
  double concurrency = 0;          // simultaneous in-flight requests to sustain
  double requests_per_second = 0;  // for non-LLM tasks: items/s (images, embeddings, audio-s)
  double tokens_per_second = 0;    // output tokens/s
  double tokens_per_day = 0;       // output tokens/day
  int input_tokens = 0;            // mean prompt length; 0 = policy default
  int output_tokens = 0;           // mean generated length; 0 = policy default
  int max_context_tokens = 0;      // longest sequence that must fit; 0 = input + output
};

// Latency targets; zero means no target.
struct Slo {
  double ttft_ms = 0;  // time to first token
  double tpot_ms = 0;  // time per output token after the first
};

// Training/fine-tuning job shape (tasks fine-tune-* and pretrain).
struct TrainingJob {
  double dataset_tokens = 0;  // tokens per epoch; 0 = 100M (policy default)
  int epochs = 1;
  int micro_batch_size = 0;  // sequences per GPU per step; 0 = policy default (8)
  int sequence_tokens = 0;   // 0 = traffic.max_context_tokens or 2048
  int lora_rank = 16;
};

struct Workload {
  std::string name;
  std::string model;  // preset id; empty when `architecture` is given inline
  std::optional<ModelArchitecture> architecture;
  Precision precision = Precision::kBf16;
  std::optional<Precision> kv_cache_precision;  // default: 16-bit (vLLM kv_cache_dtype=auto)
  std::optional<Task> task;                     // default: the preset's task, else llm-inference
  Traffic traffic;
  Slo slo;
  TrainingJob training;
  Objective objective = Objective::kCost;
  Isolation isolation = Isolation::kShared;
  // Restricts the candidates: "l4", "a100-80gb/1g.10gb", or "a100-80gb/*" for every slice
  // of a GPU. A whole-GPU id does not admit its slices. Empty = the whole catalog.
  std::vector<std::string> accelerators;
  int max_gpus_per_replica = 0;  // 0 = up to the node's NVLink domain
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_WORKLOAD_H_

// Memory fit: how many bytes a model's weights, KV cache, activations and runtime take on
// each GPU of a replica, against usable memory (physical x gpu_memory_utilization).
// Formulas: tests/testdata/data/reference-gpu-model-data.yaml `memory_model` (vLLM budget rule).
#ifndef GPUFIT_CORE_MEMORY_MODEL_H_
#define GPUFIT_CORE_MEMORY_MODEL_H_

#include "core/accelerator.h"
#include "core/decision.h"
#include "core/llm_terms.h"
#include "core/policy.h"
#include "core/resolved_workload.h"

namespace gpufit::core {

// Bytes of all weights at `precision`; quantised checkpoints keep embeddings/lm_head 16-bit.
double WeightBytes(const ModelArchitecture& arch, Precision precision);
// 2 (K and V) x layers x kv_heads x head_dim x bytes per element.
double KvBytesPerToken(const ModelArchitecture& arch, Precision kv_precision);
// Tokens of KV one sequence of `tokens` keeps (a sliding window caps it).
double KvTokensPerSequence(const ModelArchitecture& arch, double tokens);

// Inference memory of one GPU of a `gpus`-way tensor-parallel replica, before the KV cache.
struct InferenceFootprint {
  double weights_gib = 0;
  double activations_gib = 0;  // vLLM profile peak: max_num_batched_tokens through the MLP + logits
  double overhead_gib = 0;
  double usable_gib = 0;
  double kv_gib_per_token = 0;  // per GPU (heads are sharded over the TP group)

  double static_gib() const { return weights_gib + activations_gib + overhead_gib; }
  double free_for_kv_gib() const { return usable_gib - static_gib(); }
  // KV tokens the replica can hold (0 if nothing is left after the weights).
  double kv_capacity_tokens() const {
    return free_for_kv_gib() > 0 ? free_for_kv_gib() / kv_gib_per_token : 0;
  }
};
InferenceFootprint LlmFootprint(const LlmTerms& t, const Accelerator& acc, int gpus,
                                const ModelConstants& k);
inline InferenceFootprint LlmFootprint(const ResolvedWorkload& w, const Accelerator& acc, int gpus,
                                       const ModelConstants& k) {
  return LlmFootprint(LlmTerms::For(w, k), acc, gpus, k);
}

// Memory breakdown with `concurrency` sequences of input+output tokens resident.
MemoryBreakdown LlmMemory(const InferenceFootprint& f, const LlmTerms& t, double concurrency);

// Training memory per GPU (weights + gradients + optimiser states + activations with
// gradient checkpointing), for fine-tune-lora / -qlora / -full and pretrain.
MemoryBreakdown TrainingMemory(const ResolvedWorkload& w, const Accelerator& acc, int gpus,
                               const ModelConstants& k);
// Parameters the optimiser updates (all of them, or the LoRA adapters).
double TrainableParameters(const ResolvedWorkload& w);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_MEMORY_MODEL_H_

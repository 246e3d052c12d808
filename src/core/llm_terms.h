// Per-workload quantities of the LLM memory and performance models that do not depend on the
// accelerator: computed once per decision and shared by every option's evaluation (a full
// placement evaluates ~44 options, and recomputing these per option dominated its cost).
#ifndef GPUFIT_CORE_LLM_TERMS_H_
#define GPUFIT_CORE_LLM_TERMS_H_

#include "core/policy.h"
#include "core/resolved_workload.h"

namespace gpufit::core {

struct LlmTerms {
  double weight_bytes = 0;                       // whole model at the weight precision
  double dense_weight_fraction = 1;              // MoE: share of the weights every token reads
  double kv_bytes_per_token = 0;                 // whole model
  double flops_per_token = 0;                    // 2 x active parameters
  double attention_flops_per_context_token = 0;  // per processed token per context token
  double mean_context_tokens = 0;                // steady-state mean context of a decoding sequence
  double prefill_per_decode = 0;           // prompt tokens per generated token (input / output)
  double kv_tokens_per_sequence = 0;       // KV a finished request holds (input + output)
  double kv_tokens_max_context = 0;        // KV of one max-context sequence
  double activation_bytes_sharded = 0;     // vLLM profile peak split over TP (MLP activations)
  double activation_bytes_replicated = 0;  // sampler logits, on every GPU

  static LlmTerms For(const ResolvedWorkload& w, const ModelConstants& k);
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_LLM_TERMS_H_

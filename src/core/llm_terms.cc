#include "core/llm_terms.h"

#include <algorithm>

#include "core/memory_model.h"

namespace gpufit::core {

LlmTerms LlmTerms::For(const ResolvedWorkload& w, const ModelConstants& k) {
  const ModelArchitecture& a = w.architecture;
  LlmTerms t;
  t.weight_bytes = WeightBytes(a, w.weight_precision);
  if (a.is_moe()) {
    // Expert parameters: P_exp x (1 - k/E) = P - P_active; the rest is read by every token.
    const double total = a.parameters_billion * 1e9;
    const double frac_inactive = 1.0 - static_cast<double>(a.active_experts) / a.experts;
    const double expert_params = std::min(total, (total - a.active_parameters()) / frac_inactive);
    t.dense_weight_fraction = 1.0 - expert_params / total;
  }
  t.kv_bytes_per_token = KvBytesPerToken(a, w.kv_precision);
  t.flops_per_token = 2.0 * a.active_parameters();
  // Attention: QK^T and AV are 2 x 2 x heads x head_dim FLOPs per layer per context token.
  t.attention_flops_per_context_token =
      4.0 * a.layers * a.attention_heads * static_cast<double>(a.effective_head_dim());
  t.mean_context_tokens = KvTokensPerSequence(a, w.input_tokens + w.output_tokens / 2.0);
  t.prefill_per_decode = static_cast<double>(w.input_tokens) / w.output_tokens;
  t.kv_tokens_per_sequence = KvTokensPerSequence(a, w.input_tokens + w.output_tokens);
  t.kv_tokens_max_context = KvTokensPerSequence(a, w.max_context_tokens);
  // vLLM profiles a dummy forward pass of max_num_batched_tokens: the widest live tensors are
  // the MLP's gate+up outputs (2 x intermediate) plus residual/attention (~4 x hidden), 16-bit;
  // sampling holds fp32 logits for max_num_seqs rows (reference data vllm_rule).
  t.activation_bytes_sharded = static_cast<double>(k.max_num_batched_tokens) *
                               (2.0 * a.effective_intermediate_size() + 4.0 * a.hidden_size) * 2.0;
  t.activation_bytes_replicated = static_cast<double>(k.max_num_seqs) * a.vocab_size * 4.0;
  return t;
}

}  // namespace gpufit::core

#include "core/memory_model.h"

#include <algorithm>

#include "core/units.h"

namespace gpufit::core {
namespace {

double EmbeddingParameters(const ModelArchitecture& a) {
  return static_cast<double>(a.vocab_size) * a.hidden_size * (a.tied_embeddings ? 1 : 2);
}

}  // namespace

double WeightBytes(const ModelArchitecture& a, Precision p) {
  const double total = a.parameters_billion * 1e9;
  if (!IsQuantized(p)) return total * BytesPerParameter(p);
  const double embeddings = std::min(EmbeddingParameters(a), total);
  return (total - embeddings) * BytesPerParameter(p) + embeddings * 2.0;
}

double KvBytesPerToken(const ModelArchitecture& a, Precision kv) {
  return 2.0 * a.layers * a.kv_heads * a.effective_head_dim() * BytesPerParameter(kv);
}

double KvTokensPerSequence(const ModelArchitecture& a, double tokens) {
  return a.sliding_window_tokens > 0 ? std::min<double>(tokens, a.sliding_window_tokens) : tokens;
}

InferenceFootprint LlmFootprint(const LlmTerms& t, const Accelerator& acc, int gpus,
                                const ModelConstants& k) {
  InferenceFootprint f;
  f.usable_gib = acc.memory_gib * k.gpu_memory_utilization;
  f.weights_gib = GiBFromBytes(t.weight_bytes) / gpus;
  f.activations_gib =
      GiBFromBytes(t.activation_bytes_sharded / gpus + t.activation_bytes_replicated);
  f.overhead_gib = k.runtime_overhead_gib;
  f.kv_gib_per_token = GiBFromBytes(t.kv_bytes_per_token) / gpus;
  return f;
}

MemoryBreakdown LlmMemory(const InferenceFootprint& f, const LlmTerms& t, double concurrency) {
  MemoryBreakdown m;
  m.weights_gib = f.weights_gib;
  m.activations_gib = f.activations_gib;
  m.overhead_gib = f.overhead_gib;
  m.kv_cache_gib = concurrency * t.kv_tokens_per_sequence * f.kv_gib_per_token;
  m.total_gib = m.weights_gib + m.activations_gib + m.overhead_gib + m.kv_cache_gib;
  m.usable_gib = f.usable_gib;
  return m;
}

double TrainableParameters(const ResolvedWorkload& w) {
  const ModelArchitecture& a = w.architecture;
  if (w.task != Task::kFineTuneLora && w.task != Task::kFineTuneQlora) {
    return a.parameters_billion * 1e9;
  }
  // LoRA adapters (rank r) on q, k, v, o (hidden x hidden each, GQA ignored) and the MLP's
  // gate, up, down (hidden x intermediate): r x (in + out) per adapted matrix.
  const double h = a.hidden_size;
  const double ff = a.effective_intermediate_size();
  const double per_layer = w.training.lora_rank * (4.0 * (h + h) + 3.0 * (h + ff));
  return per_layer * a.layers;
}

MemoryBreakdown TrainingMemory(const ResolvedWorkload& w, const Accelerator& acc, int gpus,
                               const ModelConstants& k) {
  const ModelArchitecture& a = w.architecture;
  const double params = a.parameters_billion * 1e9;
  const bool lora = w.task == Task::kFineTuneLora || w.task == Task::kFineTuneQlora;
  MemoryBreakdown m;
  m.usable_gib = acc.memory_gib * k.gpu_memory_utilization;
  if (w.task == Task::kFineTuneQlora) {
    // QLoRA: NF4 base, 0.516 B/param incl. double-quantised absmax (reference bytes_per_param).
    m.weights_gib = GiBFromBytes(params * 0.516) / gpus;
  } else if (lora) {
    m.weights_gib = GiBFromBytes(WeightBytes(a, w.weight_precision)) / gpus;
  } else {
    m.weights_gib = GiBFromBytes(params * 2.0) / gpus;  // bf16 working copy
  }
  // Mixed-precision Adam: 16-bit gradient + fp32 master weight + two fp32 moments
  // = 2 + 4 + 8 = 14 bytes per trained parameter (ZeRO paper accounting, K = 12 + grads).
  const double trainable = TrainableParameters(w);
  m.optimizer_gib = GiBFromBytes(trainable * (lora ? 16.0 : 14.0)) / gpus;
  // Activations with full gradient checkpointing: one 16-bit hidden state per layer kept
  // (2 s b h L bytes), plus one layer's full working set recomputed during backward
  // (34 s b h bytes, Korthikanti et al. 2022), plus fp32 logits and their gradient.
  const double s = w.training.sequence_tokens;
  const double b = w.training.micro_batch_size;
  const double h = a.hidden_size;
  const double checkpoints = 2.0 * s * b * h * a.layers;
  const double one_layer = 34.0 * s * b * h;
  const double logits = s * b * a.vocab_size * 4.0 * 2.0;
  m.activations_gib = GiBFromBytes((checkpoints + one_layer) / gpus + logits);
  m.overhead_gib = k.runtime_overhead_gib;
  m.total_gib = m.weights_gib + m.optimizer_gib + m.activations_gib + m.overhead_gib;
  return m;
}

}  // namespace gpufit::core

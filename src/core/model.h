// What is being served or trained: a model's architecture (from its config.json) and the
// presets gpufit knows by id (`llama-3-8b`). Plain value types.
#ifndef GPUFIT_CORE_MODEL_H_
#define GPUFIT_CORE_MODEL_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/task.h"

namespace gpufit::core {

struct ModelArchitecture {
  double parameters_billion = 0;  // total, embeddings included
  int layers = 0;
  int hidden_size = 0;
  int intermediate_size = 0;  // MLP width (per expert for MoE); 0 = 4 x hidden
  int attention_heads = 0;
  int kv_heads = 0;  // GQA; = attention_heads for MHA
  int head_dim = 0;  // 0 = hidden / heads
  int vocab_size = 0;
  bool tied_embeddings = false;
  int sliding_window_tokens = 0;  // caps per-sequence KV when the engine exploits it (Mistral)
  // Mixture of experts (all zero for dense models).
  int experts = 0;
  int active_experts = 0;
  double active_parameters_billion = 0;

  bool is_moe() const { return experts > 1 && active_experts > 0; }
  double active_parameters() const {
    return (is_moe() && active_parameters_billion > 0 ? active_parameters_billion
                                                      : parameters_billion) *
           1e9;
  }
  int effective_head_dim() const {
    return head_dim > 0 ? head_dim : (attention_heads > 0 ? hidden_size / attention_heads : 0);
  }
  int effective_intermediate_size() const {
    // 4 x hidden_size in 64 bits, saturated: a catalog preset's width is not range-checked.
    return intermediate_size > 0
               ? intermediate_size
               : static_cast<int>(std::min<int64_t>(4 * static_cast<int64_t>(hidden_size),
                                                    std::numeric_limits<int>::max()));
  }
};

// A measured rate for a non-LLM model on one accelerator, from the seed
// (e.g. SDXL on L4: 4-5 images/min). Other accelerators scale by sustained compute.
struct MeasuredRate {
  std::string accelerator_id;
  double items_per_second = 0;  // images/s, audio-seconds/s, or embeddings/s
};

struct ModelPreset {
  std::string id;                   // contract: "llama-3-8b"
  std::string display_name;         // "Llama 3 8B"
  std::string source;               // where the numbers come from (config.json, paper)
  Task task = Task::kLlmInference;  // what the model is for by default
  ModelArchitecture architecture;
  int max_context_tokens = 0;  // max_position_embeddings
  // Non-LLM models: the resident memory and measured rates gpufit sizes from.
  double resident_memory_gib = 0;  // weights + working set for one in-flight item
  double per_item_memory_gib = 0;  // extra per concurrently processed item
  std::string item_unit;           // "image", "audio-second", "embedding"
  std::vector<MeasuredRate> measured_rates;
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_MODEL_H_

#include "core/placement.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/item_model.h"
#include "core/llm_terms.h"
#include "core/memory_model.h"
#include "core/performance_model.h"
#include "core/status_macros.h"
#include "core/units.h"

namespace gpufit::core {
namespace {

// Tensor-parallel degrees gpufit considers (vLLM requires the degree to divide the head
// count; powers of two up to one 8-GPU NVLink node cover every catalog model).
constexpr int kTensorParallelDegrees[] = {1, 2, 4, 8};

// An allow-list entry names a whole GPU ("a100-80gb"), one slice ("a100-80gb/1g.10gb") or
// every slice of a GPU ("a100-80gb/*"). Naming a GPU does not admit its slices: a slice is
// priced as a share of the GPU, which only holds when other tenants fill the rest.
bool Allowed(const ResolvedWorkload& w, const Accelerator& acc) {
  if (w.allowed_accelerators.empty()) return true;
  for (const std::string& id : w.allowed_accelerators) {
    if (id == acc.id) return true;
    if (acc.is_mig_slice() && id.size() == acc.parent_id.size() + 2 &&
        id.compare(0, acc.parent_id.size(), acc.parent_id) == 0 &&
        id.compare(acc.parent_id.size(), 2, "/*") == 0) {
      return true;
    }
  }
  return false;
}

double Replicas(double target, double capacity, double headroom) {
  if (target <= 0) return 0;
  return std::ceil(target * (1.0 + headroom) / capacity - 1e-9);
}

void Price(Option& o, const Policy& policy, double throughput_per_replica) {
  const Accelerator& acc = *o.accelerator;
  o.replica_cost_usd_per_hour = acc.price_usd_per_hour * o.gpus_per_replica;
  o.cost_usd_per_hour = o.replica_cost_usd_per_hour * o.replicas;
  if (throughput_per_replica > 0) {
    o.usd_per_million_tokens =
        o.replica_cost_usd_per_hour / (throughput_per_replica * kSecondsPerHour) * 1e6;
    o.tokens_per_second_per_usd =
        o.replica_cost_usd_per_hour > 0 ? throughput_per_replica / o.replica_cost_usd_per_hour : 0;
  }
  o.watts = acc.tdp_watts * o.gpus_per_replica * std::max(o.replicas, 1);
  o.energy_usd_per_year = o.watts / 1e3 * kHoursPerYear * policy.energy_usd_per_kwh;
}

void Reject(Option& o, RejectClass cls, RejectKind kind, double needed, double available,
            int detail = 0) {
  o.feasible = false;
  o.rejection = Rejection{cls, kind, needed, available, detail};
}

// LLM serving on `gpus` GPUs per replica.
void EvaluateLlm(const ResolvedWorkload& w, const LlmTerms& t, const Catalog& catalog, Option& o) {
  const Accelerator& acc = *o.accelerator;
  const Policy& policy = catalog.policy();
  const ModelConstants& k = policy.model;
  const int gpus = o.gpus_per_replica;
  const InferenceFootprint f = LlmFootprint(t, acc, gpus, k);
  Prediction& p = o.prediction;
  p.memory = LlmMemory(f, t, 0);
  if (f.free_for_kv_gib() <= 0) {
    return Reject(o, RejectClass::kMemory, RejectKind::kMemoryWeights, f.static_gib(),
                  f.usable_gib);
  }
  const double context_kv_gib = t.kv_tokens_max_context * f.kv_gib_per_token;
  if (context_kv_gib > f.free_for_kv_gib()) {
    return Reject(o, RejectClass::kMemory, RejectKind::kMemoryContext,
                  f.static_gib() + context_kv_gib, f.usable_gib, w.max_context_tokens);
  }
  // Concurrency the KV cache holds with every request at its full input + output length.
  const double memory_limit = std::min<double>(
      k.max_num_seqs, std::floor(f.kv_capacity_tokens() / t.kv_tokens_per_sequence));
  const LlmPerformanceModel perf(w, t, acc, gpus, k);
  const double cap = perf.MaxConcurrency(w.slo, memory_limit);
  if (cap < 1) {
    const double ttft_ms = perf.TtftSeconds(1) * 1e3;
    if (w.slo.ttft_ms > 0 && ttft_ms > w.slo.ttft_ms) {
      return Reject(o, RejectClass::kSlo, RejectKind::kSloTtft, ttft_ms, w.slo.ttft_ms);
    }
    return Reject(o, RejectClass::kSlo, RejectKind::kSloTpot, perf.TpotSeconds(1) * 1e3,
                  w.slo.tpot_ms);
  }
  o.feasible = true;
  p.max_concurrency = cap;
  p.max_output_tokens_per_second = cap / perf.TpotSeconds(cap);
  const double replicas =
      std::max({1.0, Replicas(w.concurrency, cap, policy.replica_headroom),
                Replicas(w.output_tokens_per_second, p.max_output_tokens_per_second,
                         policy.replica_headroom)});
  if (!(replicas <= kMaxReplicas)) {
    return Reject(o, RejectClass::kCapability, RejectKind::kTooManyReplicas, replicas,
                  kMaxReplicas);
  }
  o.replicas = static_cast<int>(replicas);
  // Spread the demand evenly over the replicas.
  double per_replica = w.concurrency / replicas;
  if (w.output_tokens_per_second > 0) {
    per_replica = std::max(per_replica, cap * (w.output_tokens_per_second / replicas) /
                                            p.max_output_tokens_per_second);
  }
  p.concurrency = std::clamp(per_replica, 1.0, cap);
  const double tpot_s = perf.TpotSeconds(p.concurrency);
  p.output_tokens_per_second = p.concurrency / tpot_s;
  p.tpot_ms = tpot_s * 1e3;
  p.ttft_ms = perf.TtftSecondsForTpot(tpot_s) * 1e3;
  p.memory = LlmMemory(f, t, p.concurrency);
  Price(o, policy, p.max_output_tokens_per_second);
}

// Embedding, speech-to-text, image generation.
void EvaluateItems(const ResolvedWorkload& w, const Catalog& catalog, Option& o) {
  const Accelerator& acc = *o.accelerator;
  const Policy& policy = catalog.policy();
  const ItemEstimate e = EstimateItems(w, acc, catalog);
  Prediction& p = o.prediction;
  p.memory.usable_gib = acc.memory_gib * policy.model.gpu_memory_utilization;
  p.memory.weights_gib = e.resident_gib;
  p.memory.overhead_gib = policy.model.runtime_overhead_gib;
  p.memory.total_gib = e.resident_gib + p.memory.overhead_gib;
  if (p.memory.total_gib > p.memory.usable_gib) {
    return Reject(o, RejectClass::kMemory, RejectKind::kMemoryWeights, p.memory.total_gib,
                  p.memory.usable_gib);
  }
  if (e.items_per_second <= 0) {
    return Reject(o, RejectClass::kCapability, RejectKind::kNoNvlink, 0, 0, 1);
  }
  if (w.slo.ttft_ms > 0 && e.latency_ms > w.slo.ttft_ms) {
    return Reject(o, RejectClass::kSlo, RejectKind::kSloTtft, e.latency_ms, w.slo.ttft_ms);
  }
  o.feasible = true;
  // Items processed concurrently are bounded by memory; the rate is shared between them.
  const double batch_limit =
      e.per_item_gib > 0
          ? std::floor((p.memory.usable_gib - p.memory.total_gib) / e.per_item_gib) + 1
          : policy.model.max_num_seqs;
  p.max_concurrency = std::clamp(batch_limit, 1.0, static_cast<double>(policy.model.max_num_seqs));
  p.items_per_second = e.items_per_second;
  p.max_output_tokens_per_second = 0;
  p.ttft_ms = e.latency_ms;
  const double replicas =
      std::max({1.0, Replicas(w.requests_per_second, e.items_per_second, policy.replica_headroom),
                Replicas(w.concurrency, p.max_concurrency, policy.replica_headroom)});
  if (!(replicas <= kMaxReplicas)) {
    return Reject(o, RejectClass::kCapability, RejectKind::kTooManyReplicas, replicas,
                  kMaxReplicas);
  }
  o.replicas = static_cast<int>(replicas);
  p.concurrency = std::clamp(w.concurrency / replicas, 0.0, p.max_concurrency);
  p.memory.activations_gib = e.per_item_gib * std::max(1.0, std::ceil(p.concurrency));
  p.memory.total_gib += p.memory.activations_gib;
  Price(o, policy, e.items_per_second);
}

// Fine-tuning and pre-training: one job on one replica.
void EvaluateTraining(const ResolvedWorkload& w, const Catalog& catalog, Option& o) {
  const Accelerator& acc = *o.accelerator;
  const Policy& policy = catalog.policy();
  const ModelConstants& k = policy.model;
  Prediction& p = o.prediction;
  p.memory = TrainingMemory(w, acc, o.gpus_per_replica, k);
  if (p.memory.total_gib > p.memory.usable_gib) {
    return Reject(o, RejectClass::kMemory, RejectKind::kMemoryWeights, p.memory.total_gib,
                  p.memory.usable_gib);
  }
  o.feasible = true;
  o.replicas = 1;
  // Full training: 6 x params FLOPs per token (forward 2, backward 4). LoRA/QLoRA skip the
  // frozen base's weight gradients: 4 x params (forward 2 + activation gradients 2).
  const bool lora = w.task == Task::kFineTuneLora || w.task == Task::kFineTuneQlora;
  const double flops_per_token = (lora ? 4.0 : 6.0) * w.architecture.active_parameters();
  const double tp_eff = o.gpus_per_replica > 1 ? k.tensor_parallel_efficiency : 1.0;
  // Training runs 16-bit GEMMs (QLoRA dequantises the 4-bit base to bf16 on the fly).
  const double flops =
      PeakFlopsPerSecond(acc, Precision::kBf16, k) * k.training_mfu * tp_eff * o.gpus_per_replica;
  const double tokens = w.training.dataset_tokens * w.training.epochs;
  p.training_hours = tokens * flops_per_token / flops / kSecondsPerHour;
  p.items_per_second = flops / flops_per_token;  // training tokens/s
  Price(o, policy, p.items_per_second);
  o.training_cost_usd = o.replica_cost_usd_per_hour * p.training_hours;
}

}  // namespace

// Smaller is better.
double ObjectiveScore(const ResolvedWorkload& w, const Option& o) {
  const Prediction& p = o.prediction;
  const bool training = IsTraining(w.task);
  switch (w.objective) {
    case Objective::kCost:
      return training ? o.training_cost_usd : o.cost_usd_per_hour;
    case Objective::kLatency:
      if (training) return p.training_hours;
      if (w.task == Task::kLlmInference) return p.ttft_ms + p.tpot_ms * w.output_tokens;
      return p.ttft_ms;
    case Objective::kThroughput:
      if (training) return p.training_hours;
      return -(w.task == Task::kLlmInference ? p.max_output_tokens_per_second : p.items_per_second);
  }
  return 0;
}

namespace {

void Evaluate(const ResolvedWorkload& w, const LlmTerms& t, const Catalog& catalog, Option& o) {
  if (o.accelerator->is_mig_slice() && w.isolation == Isolation::kDedicated) {
    return Reject(o, RejectClass::kCapability, RejectKind::kIsolation, 0, 0);
  }
  if (o.gpus_per_replica > 1 && !o.accelerator->has_nvlink()) {
    return Reject(o, RejectClass::kCapability, RejectKind::kNoNvlink, 0, 0, o.gpus_per_replica);
  }
  // vLLM and TensorRT-LLM shard attention heads: the degree must divide the head count.
  if (o.gpus_per_replica > 1 && w.architecture.attention_heads % o.gpus_per_replica != 0) {
    return Reject(o, RejectClass::kCapability, RejectKind::kHeadsNotDivisible, 0, 0,
                  o.gpus_per_replica);
  }
  if (IsTraining(w.task)) return EvaluateTraining(w, catalog, o);
  if (w.task == Task::kLlmInference) return EvaluateLlm(w, t, catalog, o);
  return EvaluateItems(w, catalog, o);
}

}  // namespace

Decision Place(const ResolvedWorkload& w, const Catalog& catalog) {
  Decision d;
  d.workload_name = w.name;
  d.unit = IsTraining(w.task) ? "training-token" : std::string(ItemUnit(w));
  const bool llm_like = w.task == Task::kLlmInference || IsTraining(w.task);
  const LlmTerms terms = LlmTerms::For(w, catalog.policy().model);
  d.options.reserve(catalog.accelerators().size() + 16);
  for (const Accelerator& acc : catalog.accelerators()) {
    if (!Allowed(w, acc)) continue;
    // The full-GPU profile (7g.80gb) behaves and costs like its parent: list it only when the
    // parent itself is not a candidate, so the ranking does not show the same option twice.
    if (acc.is_mig_slice() && acc.compute_slices == 7 && acc.memory_slices == 8) {
      const Accelerator* parent = catalog.FindAccelerator(acc.parent_id);
      if (parent != nullptr && Allowed(w, *parent)) continue;
    }
    const int max_gpus =
        std::min(acc.gpus_per_node, w.max_gpus_per_replica > 0 ? w.max_gpus_per_replica : 64);
    bool smaller_degree_fits_memory = false;
    for (int gpus : kTensorParallelDegrees) {
      if (gpus > 1 && (!llm_like || acc.is_mig_slice() || gpus > max_gpus)) break;
      // Without NVLink only show the TP=2 option that explains why a model that does not fit
      // one GPU cannot be split (the seed: "you can't combine L4 VRAM").
      if (gpus > 1 && !acc.has_nvlink() && (smaller_degree_fits_memory || gpus > 2)) break;
      Option& o = d.options.emplace_back();  // evaluated in place: an Option is ~300 bytes
      o.accelerator = &acc;
      o.gpus_per_replica = gpus;
      Evaluate(w, terms, catalog, o);
      if (o.feasible || o.rejection.cls != RejectClass::kMemory) smaller_degree_fits_memory = true;
    }
  }
  // Feasible options by objective, then rejected ones; ties keep catalog order. Sorting small
  // keys and moving each Option once keeps this cheap (an Option is a few hundred bytes).
  struct Key {
    bool feasible;
    double score;
    double usd_per_million_tokens;
    size_t index;
  };
  std::vector<Key> keys;
  keys.reserve(d.options.size());
  for (size_t i = 0; i < d.options.size(); ++i) {
    const Option& o = d.options[i];
    keys.push_back(
        {o.feasible, o.feasible ? ObjectiveScore(w, o) : 0.0, o.usd_per_million_tokens, i});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.feasible != b.feasible) return a.feasible;
    if (a.feasible) {
      if (a.score != b.score) return a.score < b.score;
      if (a.usd_per_million_tokens != b.usd_per_million_tokens) {
        return a.usd_per_million_tokens < b.usd_per_million_tokens;
      }
    }
    return a.index < b.index;
  });
  std::vector<Option> sorted;
  sorted.reserve(keys.size());
  for (const Key& k : keys) sorted.push_back(std::move(d.options[k.index]));
  d.options = std::move(sorted);
  if (!d.options.empty() && d.options.front().feasible) d.recommended = 0;
  return d;
}

absl::StatusOr<Decision> PlaceWorkload(const Workload& workload, const Catalog& catalog) {
  GPUFIT_ASSIGN_OR_RETURN(ResolvedWorkload w, ResolveWorkload(workload, catalog));
  return Place(w, catalog);
}

absl::StatusOr<Option> PredictOption(const ResolvedWorkload& w, const Catalog& catalog,
                                     std::string_view accelerator_id, int gpus) {
  const Accelerator* acc = catalog.FindAccelerator(accelerator_id);
  if (acc == nullptr) {
    return absl::NotFoundError(absl::StrCat("accelerator: unknown accelerator '",
                                            std::string(accelerator_id),
                                            "' (see `gpufit catalog`)"));
  }
  if (gpus < 0 || gpus > 64) {
    return absl::InvalidArgumentError("gpus: must be in 1..64");
  }
  if (gpus > 1 && acc->is_mig_slice()) {
    return absl::InvalidArgumentError("gpus: a MIG slice serves one replica on its own (use 1)");
  }
  const LlmTerms terms = LlmTerms::For(w, catalog.policy().model);
  Option o;
  o.accelerator = acc;
  if (gpus > 0) {
    o.gpus_per_replica = gpus;
    Evaluate(w, terms, catalog, o);
    return o;
  }
  // Smallest tensor-parallel degree that fits.
  for (int degree : kTensorParallelDegrees) {
    Option candidate;
    candidate.accelerator = acc;
    candidate.gpus_per_replica = degree;
    Evaluate(w, terms, catalog, candidate);
    if (degree == 1) o = candidate;
    if (candidate.feasible) return candidate;
    if (!acc->has_nvlink() || acc->is_mig_slice() || degree * 2 > acc->gpus_per_node) break;
  }
  return o;
}

}  // namespace gpufit::core

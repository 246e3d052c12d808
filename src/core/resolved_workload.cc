#include "core/resolved_workload.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/limits.h"

namespace gpufit::core {
namespace {

// Upper bounds (core/limits.h) keep arithmetic sane and reject typos (a 10^12-token context
// is a bug).
constexpr double kMaxRate = kMaxRatePerSecond;

class FieldChecker {
 public:
  explicit FieldChecker(std::string_view prefix) : prefix_(prefix) {}

  absl::Status Error(std::string_view path, std::string_view reason) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, prefix_.empty() ? "" : ".",
                                                   std::string(path), ": ", std::string(reason)));
  }
  // 0 means "not given"; otherwise the value must be finite, > 0 and <= max.
  absl::Status OptionalPositive(std::string_view path, double v, double max) const {
    if (!std::isfinite(v)) return Error(path, "must be a finite number");
    if (v < 0) return Error(path, "must be > 0");
    if (v > max) return Error(path, absl::StrCat("must be <= ", max));
    return absl::OkStatus();
  }
  std::string Path(std::string_view path) const {
    return absl::StrCat(prefix_, prefix_.empty() ? "" : ".", std::string(path));
  }

 private:
  std::string prefix_;
};

absl::Status CheckArchitecture(const FieldChecker& f, const ModelArchitecture& a, Task task) {
  if (absl::Status s = CheckPositive(f.Path("architecture.parameters_billion"),
                                     a.parameters_billion, kMaxParametersBillion);
      !s.ok()) {
    return s;
  }
  const bool llm = task == Task::kLlmInference || IsTraining(task);
  if (llm) {
    if (a.layers <= 0) return f.Error("architecture.layers", "must be > 0");
    if (a.hidden_size <= 0) return f.Error("architecture.hidden_size", "must be > 0");
    if (a.attention_heads <= 0) return f.Error("architecture.attention_heads", "must be > 0");
    if (a.kv_heads <= 0) return f.Error("architecture.kv_heads", "must be > 0");
    if (a.kv_heads > a.attention_heads) {
      return f.Error("architecture.kv_heads", "must be <= attention_heads");
    }
    if (a.vocab_size <= 0) return f.Error("architecture.vocab_size", "must be > 0");
  }
  if (a.layers < 0 || a.hidden_size < 0 || a.head_dim < 0 || a.intermediate_size < 0 ||
      a.vocab_size < 0 || a.sliding_window_tokens < 0) {
    return f.Error("architecture", "sizes must be >= 0");
  }
  // Widths beyond any model (the largest published hidden size is ~25k) are typos or junk,
  // and the derived MLP width 4 x hidden_size must stay an int.
  constexpr int kMaxWidth = 1 << 20;
  if (a.hidden_size > kMaxWidth) return f.Error("architecture.hidden_size", "must be <= 1048576");
  if (a.intermediate_size > kMaxWidth) {
    return f.Error("architecture.intermediate_size", "must be <= 1048576");
  }
  if (a.experts < 0 || a.active_experts < 0 || a.active_experts > a.experts) {
    return f.Error("architecture.active_experts", "must be in 0..experts");
  }
  if (a.experts > 0 && a.active_parameters_billion > a.parameters_billion) {
    return f.Error("architecture.active_parameters_billion", "must be <= parameters_billion");
  }
  if (!(std::isfinite(a.active_parameters_billion) && a.active_parameters_billion >= 0)) {
    return f.Error("architecture.active_parameters_billion", "must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ResolvedWorkload> ResolveWorkload(const Workload& w, const Catalog& catalog,
                                                 std::string_view field_prefix) {
  const FieldChecker f(field_prefix);
  const Policy& policy = catalog.policy();
  ResolvedWorkload r;
  r.name = w.name;

  // Model: a preset id or an inline architecture, not both.
  if (!w.model.empty() && w.architecture.has_value()) {
    return f.Error("model", "give either a preset id or an inline architecture, not both");
  }
  if (w.model.empty() && !w.architecture.has_value()) {
    return f.Error("model", "must name a preset (see `gpufit catalog`) or give architecture");
  }
  if (!w.model.empty()) {
    r.preset = catalog.FindPreset(w.model);
    if (r.preset == nullptr) {
      std::vector<std::string> ids;
      for (const ModelPreset& p : catalog.presets()) ids.push_back(p.id);
      return absl::NotFoundError(absl::StrCat(f.Path("model"), ": unknown model '", w.model,
                                              "'; known: ", absl::StrJoin(ids, ", ")));
    }
    r.architecture = r.preset->architecture;
  } else {
    r.architecture = *w.architecture;
  }
  r.task = w.task.value_or(r.preset != nullptr ? r.preset->task : Task::kLlmInference);
  if (r.preset != nullptr && r.preset->task != Task::kLlmInference && r.task != r.preset->task) {
    return f.Error("task", absl::StrCat("model '", r.preset->id, "' is a ",
                                        std::string(TaskName(r.preset->task)), " model, not ",
                                        std::string(TaskName(r.task))));
  }
  if (r.preset == nullptr && r.task != Task::kLlmInference && r.task != Task::kEmbedding &&
      !IsTraining(r.task)) {
    return f.Error("task", absl::StrCat(std::string(TaskName(r.task)),
                                        " is sized from measured rates: use a preset model"));
  }
  if (r.preset == nullptr || r.task == Task::kLlmInference || IsTraining(r.task)) {
    if (absl::Status s = CheckArchitecture(f, r.architecture, r.task); !s.ok()) return s;
  }

  r.weight_precision = w.precision;
  r.kv_precision = w.kv_cache_precision.value_or(Precision::kFp16);
  if (r.kv_precision == Precision::kInt4) {
    return f.Error("kv_cache_precision", "int4 KV cache is not supported (fp16, bf16, fp8, int8)");
  }
  if (r.task == Task::kFineTuneQlora && w.precision != Precision::kInt4 &&
      w.precision != Precision::kBf16 && w.precision != Precision::kFp16) {
    return f.Error("precision", "QLoRA keeps a 4-bit base: use int4 (or bf16 for the adapters)");
  }

  // Traffic.
  const Traffic& t = w.traffic;
  if (absl::Status s = f.OptionalPositive("traffic.concurrency", t.concurrency, kMaxConcurrency);
      !s.ok())
    return s;
  if (absl::Status s =
          f.OptionalPositive("traffic.requests_per_second", t.requests_per_second, kMaxRate);
      !s.ok())
    return s;
  if (absl::Status s =
          f.OptionalPositive("traffic.tokens_per_second", t.tokens_per_second, kMaxRate);
      !s.ok())
    return s;
  if (absl::Status s =
          f.OptionalPositive("traffic.tokens_per_day", t.tokens_per_day, kMaxRate * 86400);
      !s.ok())
    return s;
  if (t.input_tokens < 0 || t.input_tokens > kMaxTokens) {
    return f.Error("traffic.input_tokens", absl::StrCat("must be in 1..", kMaxTokens));
  }
  if (t.output_tokens < 0 || t.output_tokens > kMaxTokens) {
    return f.Error("traffic.output_tokens", absl::StrCat("must be in 1..", kMaxTokens));
  }
  if (t.max_context_tokens < 0 || t.max_context_tokens > kMaxTokens) {
    return f.Error("traffic.max_context_tokens", absl::StrCat("must be in 1..", kMaxTokens));
  }
  r.input_tokens = t.input_tokens > 0 ? t.input_tokens : policy.default_input_tokens;
  r.output_tokens = t.output_tokens > 0 ? t.output_tokens : policy.default_output_tokens;
  r.max_context_tokens =
      t.max_context_tokens > 0 ? t.max_context_tokens : r.input_tokens + r.output_tokens;
  if (t.max_context_tokens > 0 && t.max_context_tokens < r.input_tokens + r.output_tokens &&
      t.input_tokens > 0 && t.output_tokens > 0) {
    return f.Error("traffic.max_context_tokens", "must be >= input_tokens + output_tokens");
  }
  if (r.preset != nullptr && r.preset->max_context_tokens > 0 &&
      r.max_context_tokens > r.preset->max_context_tokens && r.task == Task::kLlmInference) {
    return f.Error("traffic.max_context_tokens",
                   absl::StrCat("exceeds the model's context window of ",
                                r.preset->max_context_tokens, " tokens"));
  }
  r.concurrency = t.concurrency;
  r.requests_per_second = t.requests_per_second;
  r.output_tokens_per_second = std::max(
      {t.tokens_per_second, t.tokens_per_day / 86400.0, t.requests_per_second * r.output_tokens});
  if (r.task != Task::kLlmInference) r.output_tokens_per_second = 0;
  if (!IsTraining(r.task) && r.concurrency == 0 && r.requests_per_second == 0 &&
      t.tokens_per_second == 0 && t.tokens_per_day == 0) {
    return f.Error("traffic",
                   "give concurrency, requests_per_second, tokens_per_second or tokens_per_day");
  }

  // SLO.
  if (absl::Status s = f.OptionalPositive("slo.ttft_ms", w.slo.ttft_ms, 3.6e6); !s.ok()) return s;
  if (absl::Status s = f.OptionalPositive("slo.tpot_ms", w.slo.tpot_ms, 3.6e6); !s.ok()) return s;
  r.slo = w.slo;

  // Training job.
  r.training = w.training;
  if (absl::Status s = f.OptionalPositive("training.dataset_tokens", w.training.dataset_tokens,
                                          kMaxDatasetTokens);
      !s.ok())
    return s;
  if (w.training.epochs < 0 || w.training.epochs > 1000)
    return f.Error("training.epochs", "must be in 1..1000");
  if (w.training.micro_batch_size < 0 || w.training.micro_batch_size > 4096) {
    return f.Error("training.micro_batch_size", "must be in 1..4096");
  }
  if (w.training.sequence_tokens < 0 || w.training.sequence_tokens > kMaxTokens) {
    return f.Error("training.sequence_tokens", absl::StrCat("must be in 1..", kMaxTokens));
  }
  if (w.training.lora_rank < 0 || w.training.lora_rank > 4096) {
    return f.Error("training.lora_rank", "must be in 1..4096");
  }
  if (r.training.dataset_tokens == 0) r.training.dataset_tokens = policy.default_dataset_tokens;
  if (r.training.epochs == 0) r.training.epochs = 1;
  if (r.training.micro_batch_size == 0)
    r.training.micro_batch_size = policy.default_micro_batch_size;
  if (r.training.sequence_tokens == 0) {
    r.training.sequence_tokens =
        t.max_context_tokens > 0 ? t.max_context_tokens : policy.default_sequence_tokens;
  }
  if (r.training.lora_rank == 0) r.training.lora_rank = 16;

  r.objective = w.objective;
  r.isolation = w.isolation;
  if (w.accelerators.size() > static_cast<size_t>(kMaxAcceleratorIds)) {
    return f.Error("accelerators", absl::StrCat("at most ", kMaxAcceleratorIds, " ids"));
  }
  absl::flat_hash_set<std::string_view> seen;
  for (size_t i = 0; i < w.accelerators.size(); ++i) {
    const std::string& id = w.accelerators[i];
    if (!seen.insert(id).second) {
      return f.Error(absl::StrCat("accelerators[", i, "]"), absl::StrCat("repeats '", id, "'"));
    }
    const bool all_slices = id.size() > 2 && id.compare(id.size() - 2, 2, "/*") == 0;
    const Accelerator* named =
        catalog.FindAccelerator(all_slices ? id.substr(0, id.size() - 2) : id);
    if (all_slices && named != nullptr && named->mig_profiles.empty()) {
      return f.Error(absl::StrCat("accelerators[", i, "]"),
                     absl::StrCat("'", named->id, "' has no MIG profiles"));
    }
    if (named == nullptr) {
      return absl::NotFoundError(absl::StrCat(f.Path(absl::StrCat("accelerators[", i, "]")),
                                              ": unknown accelerator '", w.accelerators[i],
                                              "' (see `gpufit catalog`)"));
    }
  }
  r.allowed_accelerators = w.accelerators;
  if (w.max_gpus_per_replica < 0 || w.max_gpus_per_replica > 64) {
    return f.Error("max_gpus_per_replica", "must be in 0..64");
  }
  r.max_gpus_per_replica = w.max_gpus_per_replica;
  return r;
}

}  // namespace gpufit::core

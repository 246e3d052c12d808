#include "api/proto_conversion.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/message.h"
#include "render/narration.h"

namespace gpufit::api {
namespace {

namespace v1 = ::gpufit::v1;

absl::Status InvalidField(std::string_view prefix, std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("%s.%s: %s", prefix, field, what));
}

// Proto3 enums are open: a peer may send a number this build does not know.
absl::Status UnknownEnumValue(std::string_view prefix, std::string_view field, int value) {
  return InvalidField(prefix, field, absl::StrCat("unknown value ", value));
}

absl::StatusOr<std::optional<core::Precision>> PrecisionFromProto(v1::Precision p,
                                                                  std::string_view prefix,
                                                                  std::string_view field) {
  switch (p) {
    case v1::PRECISION_UNSPECIFIED:
      return std::optional<core::Precision>();
    case v1::PRECISION_FP32:
      return core::Precision::kFp32;
    case v1::PRECISION_BF16:
      return core::Precision::kBf16;
    case v1::PRECISION_FP16:
      return core::Precision::kFp16;
    case v1::PRECISION_FP8:
      return core::Precision::kFp8;
    case v1::PRECISION_INT8:
      return core::Precision::kInt8;
    case v1::PRECISION_INT4:
      return core::Precision::kInt4;
    default:
      break;
  }
  return UnknownEnumValue(prefix, field, p);
}

absl::StatusOr<std::optional<core::Task>> TaskFromProto(v1::Task t, std::string_view prefix) {
  switch (t) {
    case v1::TASK_UNSPECIFIED:
      return std::optional<core::Task>();
    case v1::TASK_LLM_INFERENCE:
      return core::Task::kLlmInference;
    case v1::TASK_EMBEDDING:
      return core::Task::kEmbedding;
    case v1::TASK_SPEECH_TO_TEXT:
      return core::Task::kSpeechToText;
    case v1::TASK_IMAGE_GENERATION:
      return core::Task::kImageGeneration;
    case v1::TASK_FINE_TUNE_LORA:
      return core::Task::kFineTuneLora;
    case v1::TASK_FINE_TUNE_QLORA:
      return core::Task::kFineTuneQlora;
    case v1::TASK_FINE_TUNE_FULL:
      return core::Task::kFineTuneFull;
    case v1::TASK_PRETRAIN:
      return core::Task::kPretrain;
    default:
      break;
  }
  return UnknownEnumValue(prefix, "task", t);
}

core::ModelArchitecture FromProto(const v1::ModelArchitecture& p) {
  core::ModelArchitecture a;
  a.parameters_billion = p.parameters_billion();
  a.layers = p.layers();
  a.hidden_size = p.hidden_size();
  a.intermediate_size = p.intermediate_size();
  a.attention_heads = p.attention_heads();
  a.kv_heads = p.kv_heads();
  a.head_dim = p.head_dim();
  a.vocab_size = p.vocab_size();
  a.tied_embeddings = p.tied_embeddings();
  a.sliding_window_tokens = p.sliding_window_tokens();
  a.experts = p.experts();
  a.active_experts = p.active_experts();
  a.active_parameters_billion = p.active_parameters_billion();
  return a;
}

v1::ModelArchitecture ToProto(const core::ModelArchitecture& a) {
  v1::ModelArchitecture p;
  p.set_parameters_billion(a.parameters_billion);
  p.set_layers(a.layers);
  p.set_hidden_size(a.hidden_size);
  p.set_intermediate_size(a.intermediate_size);
  p.set_attention_heads(a.attention_heads);
  p.set_kv_heads(a.kv_heads);
  p.set_head_dim(a.head_dim);
  p.set_vocab_size(a.vocab_size);
  p.set_tied_embeddings(a.tied_embeddings);
  p.set_sliding_window_tokens(a.sliding_window_tokens);
  p.set_experts(a.experts);
  p.set_active_experts(a.active_experts);
  p.set_active_parameters_billion(a.active_parameters_billion);
  return p;
}

// Non-finite doubles print as JSON strings ("Infinity"); keep them out of the API.
double Finite(double v) { return std::isfinite(v) ? v : 0; }

}  // namespace

// --- Enums -----------------------------------------------------------------------------------

v1::Precision ToProto(core::Precision precision) {
  switch (precision) {
    case core::Precision::kFp32:
      return v1::PRECISION_FP32;
    case core::Precision::kBf16:
      return v1::PRECISION_BF16;
    case core::Precision::kFp16:
      return v1::PRECISION_FP16;
    case core::Precision::kFp8:
      return v1::PRECISION_FP8;
    case core::Precision::kInt8:
      return v1::PRECISION_INT8;
    case core::Precision::kInt4:
      return v1::PRECISION_INT4;
  }
  return v1::PRECISION_UNSPECIFIED;
}

v1::Task ToProto(core::Task task) {
  switch (task) {
    case core::Task::kLlmInference:
      return v1::TASK_LLM_INFERENCE;
    case core::Task::kEmbedding:
      return v1::TASK_EMBEDDING;
    case core::Task::kSpeechToText:
      return v1::TASK_SPEECH_TO_TEXT;
    case core::Task::kImageGeneration:
      return v1::TASK_IMAGE_GENERATION;
    case core::Task::kFineTuneLora:
      return v1::TASK_FINE_TUNE_LORA;
    case core::Task::kFineTuneQlora:
      return v1::TASK_FINE_TUNE_QLORA;
    case core::Task::kFineTuneFull:
      return v1::TASK_FINE_TUNE_FULL;
    case core::Task::kPretrain:
      return v1::TASK_PRETRAIN;
  }
  return v1::TASK_UNSPECIFIED;
}

v1::Objective ToProto(core::Objective objective) {
  switch (objective) {
    case core::Objective::kCost:
      return v1::OBJECTIVE_COST;
    case core::Objective::kLatency:
      return v1::OBJECTIVE_LATENCY;
    case core::Objective::kThroughput:
      return v1::OBJECTIVE_THROUGHPUT;
  }
  return v1::OBJECTIVE_UNSPECIFIED;
}

v1::Isolation ToProto(core::Isolation isolation) {
  switch (isolation) {
    case core::Isolation::kShared:
      return v1::ISOLATION_SHARED;
    case core::Isolation::kDedicated:
      return v1::ISOLATION_DEDICATED;
  }
  return v1::ISOLATION_UNSPECIFIED;
}

// --- Workload ------------------------------------------------------------------------------

absl::StatusOr<core::Workload> FromProto(const v1::Workload& p, std::string_view prefix) {
  core::Workload w;
  w.name = p.name();
  w.model = p.model();
  if (p.has_architecture()) w.architecture = FromProto(p.architecture());

  auto precision = PrecisionFromProto(p.precision(), prefix, "precision");
  if (!precision.ok()) return precision.status();
  w.precision = precision->value_or(core::Precision::kBf16);
  auto kv_precision = PrecisionFromProto(p.kv_cache_precision(), prefix, "kv_cache_precision");
  if (!kv_precision.ok()) return kv_precision.status();
  w.kv_cache_precision = *kv_precision;
  auto task = TaskFromProto(p.task(), prefix);
  if (!task.ok()) return task.status();
  w.task = *task;

  const v1::Traffic& t = p.traffic();
  w.traffic.concurrency = t.concurrency();
  w.traffic.requests_per_second = t.requests_per_second();
  w.traffic.tokens_per_second = t.tokens_per_second();
  w.traffic.tokens_per_day = t.tokens_per_day();
  w.traffic.input_tokens = t.input_tokens();
  w.traffic.output_tokens = t.output_tokens();
  w.traffic.max_context_tokens = t.max_context_tokens();

  w.slo.ttft_ms = p.slo().ttft_ms();
  w.slo.tpot_ms = p.slo().tpot_ms();

  const v1::TrainingJob& j = p.training();
  w.training.dataset_tokens = j.dataset_tokens();
  if (j.epochs() != 0) w.training.epochs = j.epochs();
  w.training.micro_batch_size = j.micro_batch_size();
  w.training.sequence_tokens = j.sequence_tokens();
  if (j.lora_rank() != 0) w.training.lora_rank = j.lora_rank();

  switch (p.objective()) {
    case v1::OBJECTIVE_UNSPECIFIED:
    case v1::OBJECTIVE_COST:
      w.objective = core::Objective::kCost;
      break;
    case v1::OBJECTIVE_LATENCY:
      w.objective = core::Objective::kLatency;
      break;
    case v1::OBJECTIVE_THROUGHPUT:
      w.objective = core::Objective::kThroughput;
      break;
    default:
      return UnknownEnumValue(prefix, "objective", p.objective());
  }
  switch (p.isolation()) {
    case v1::ISOLATION_UNSPECIFIED:
    case v1::ISOLATION_SHARED:
      w.isolation = core::Isolation::kShared;
      break;
    case v1::ISOLATION_DEDICATED:
      w.isolation = core::Isolation::kDedicated;
      break;
    default:
      return UnknownEnumValue(prefix, "isolation", p.isolation());
  }

  for (int i = 0; i < p.accelerators_size(); ++i) {
    if (p.accelerators(i).empty()) {
      return InvalidField(prefix, absl::StrCat("accelerators[", i, "]"), "must not be empty");
    }
    w.accelerators.push_back(p.accelerators(i));
  }
  w.max_gpus_per_replica = p.max_gpus_per_replica();
  return w;
}

v1::Workload ToProto(const core::Workload& w) {
  v1::Workload p;
  p.set_name(w.name);
  p.set_model(w.model);
  if (w.architecture.has_value()) *p.mutable_architecture() = ToProto(*w.architecture);
  p.set_precision(ToProto(w.precision));
  if (w.kv_cache_precision.has_value()) p.set_kv_cache_precision(ToProto(*w.kv_cache_precision));
  if (w.task.has_value()) p.set_task(ToProto(*w.task));

  v1::Traffic* t = p.mutable_traffic();
  t->set_concurrency(w.traffic.concurrency);
  t->set_requests_per_second(w.traffic.requests_per_second);
  t->set_tokens_per_second(w.traffic.tokens_per_second);
  t->set_tokens_per_day(w.traffic.tokens_per_day);
  t->set_input_tokens(w.traffic.input_tokens);
  t->set_output_tokens(w.traffic.output_tokens);
  t->set_max_context_tokens(w.traffic.max_context_tokens);

  p.mutable_slo()->set_ttft_ms(w.slo.ttft_ms);
  p.mutable_slo()->set_tpot_ms(w.slo.tpot_ms);

  v1::TrainingJob* j = p.mutable_training();
  j->set_dataset_tokens(w.training.dataset_tokens);
  j->set_epochs(w.training.epochs);
  j->set_micro_batch_size(w.training.micro_batch_size);
  j->set_sequence_tokens(w.training.sequence_tokens);
  j->set_lora_rank(w.training.lora_rank);

  p.set_objective(ToProto(w.objective));
  p.set_isolation(ToProto(w.isolation));
  for (const std::string& id : w.accelerators) p.add_accelerators(id);
  p.set_max_gpus_per_replica(w.max_gpus_per_replica);
  return p;
}

// --- Decision --------------------------------------------------------------------------------

v1::Option ToProto(const core::Option& o) {
  v1::Option p;
  if (o.accelerator != nullptr) p.set_accelerator(o.accelerator->id);
  p.set_gpus_per_replica(o.gpus_per_replica);
  p.set_feasible(o.feasible);
  if (!o.feasible) {
    p.set_reason(render::RejectionText(o));
    p.set_reject_class(std::string(core::RejectClassName(o.rejection.cls)));
  }
  p.set_replicas(o.replicas);
  p.set_replica_cost_usd_per_hour(Finite(o.replica_cost_usd_per_hour));
  p.set_cost_usd_per_hour(Finite(o.cost_usd_per_hour));
  p.set_usd_per_million_tokens(Finite(o.usd_per_million_tokens));
  const core::Prediction& r = o.prediction;
  p.set_output_tokens_per_second(Finite(r.output_tokens_per_second));
  p.set_ttft_ms(Finite(r.ttft_ms));
  p.set_tpot_ms(Finite(r.tpot_ms));
  p.set_max_concurrency(Finite(r.max_concurrency));
  p.set_max_output_tokens_per_second(Finite(r.max_output_tokens_per_second));
  p.set_concurrency_per_replica(Finite(r.concurrency));
  p.set_items_per_second(Finite(r.items_per_second));
  p.set_training_hours(Finite(r.training_hours));
  p.set_training_cost_usd(Finite(o.training_cost_usd));
  p.set_tokens_per_second_per_usd(Finite(o.tokens_per_second_per_usd));
  p.set_watts(Finite(o.watts));
  p.set_energy_usd_per_year(Finite(o.energy_usd_per_year));
  v1::MemoryBreakdown* m = p.mutable_memory();
  m->set_weights_gib(Finite(r.memory.weights_gib));
  m->set_kv_cache_gib(Finite(r.memory.kv_cache_gib));
  m->set_activations_gib(Finite(r.memory.activations_gib));
  m->set_optimizer_gib(Finite(r.memory.optimizer_gib));
  m->set_overhead_gib(Finite(r.memory.overhead_gib));
  m->set_total_gib(Finite(r.memory.total_gib));
  m->set_usable_gib(Finite(r.memory.usable_gib));
  return p;
}

v1::Decision ToProto(const core::Decision& d, core::Objective objective,
                     std::string_view catalog_version, int max_options) {
  v1::Decision p;
  p.set_workload_name(d.workload_name);
  p.set_unit(d.unit);
  p.set_catalog_version(std::string(catalog_version));
  const size_t kept = max_options < 0
                          ? d.options.size()
                          : std::min(d.options.size(), static_cast<size_t>(max_options));
  // Feasible options come first in the core's order, so the first `kept` are the best.
  for (size_t i = 0; i < kept; ++i) {
    v1::Option* o = p.add_options();
    *o = ToProto(d.options[i]);
    if (d.options[i].feasible) o->set_rank(static_cast<int>(i) + 1);
  }
  if (const core::Option* best = d.recommendation(); best != nullptr) {
    v1::Option* o = p.mutable_recommendation();
    *o = ToProto(*best);
    o->set_rank(d.recommended + 1);
  }
  p.set_explanation(render::ExplainDecision(d, objective));
  return p;
}

v1::Accelerator ToProto(const core::Accelerator& a) {
  v1::Accelerator p;
  p.set_id(a.id);
  p.set_display_name(a.display_name);
  p.set_architecture(a.architecture);
  p.set_parent_id(a.parent_id);
  p.set_mig_profile(a.mig_profile);
  p.set_compute_slices(a.compute_slices);
  p.set_memory_slices(a.memory_slices);
  p.set_memory_gib(a.memory_gib);
  p.set_memory_bandwidth_gbps(a.memory_bandwidth_gbps);
  p.set_fp16_tflops(a.fp16_tflops);
  p.set_fp8_tflops(a.fp8_tflops);
  p.set_int8_tops(a.int8_tops);
  p.set_sustained_compute_fraction(a.sustained_compute_fraction);
  p.set_tdp_watts(a.tdp_watts);
  p.set_nvlink_gbps(a.nvlink_gbps);
  p.set_gpus_per_node(a.gpus_per_node);
  p.set_video_decoders(a.video_decoders);
  p.set_video_encoders(a.video_encoders);
  p.set_price_usd_per_hour(a.price_usd_per_hour);
  for (const core::MigProfile& m : a.mig_profiles) {
    v1::MigProfile* mp = p.add_mig_profiles();
    mp->set_name(m.name);
    mp->set_compute_slices(m.compute_slices);
    mp->set_memory_slices(m.memory_slices);
    mp->set_max_instances(m.max_instances);
  }
  return p;
}

v1::ModelPreset ToProto(const core::ModelPreset& m) {
  v1::ModelPreset p;
  p.set_id(m.id);
  p.set_display_name(m.display_name);
  p.set_task(ToProto(m.task));
  *p.mutable_architecture() = ToProto(m.architecture);
  p.set_max_context_tokens(m.max_context_tokens);
  p.set_source(m.source);
  p.set_resident_memory_gib(m.resident_memory_gib);
  p.set_per_item_memory_gib(m.per_item_memory_gib);
  p.set_item_unit(m.item_unit);
  for (const core::MeasuredRate& r : m.measured_rates) {
    v1::MeasuredRate* pr = p.add_measured_rates();
    pr->set_accelerator_id(r.accelerator_id);
    pr->set_items_per_second(r.items_per_second);
  }
  return p;
}

v1::Catalog ToProto(const core::Catalog& c) {
  v1::Catalog p;
  p.set_version(c.version());
  for (const core::Accelerator& a : c.accelerators()) *p.add_accelerators() = ToProto(a);
  for (const core::ModelPreset& m : c.presets()) *p.add_presets() = ToProto(m);
  return p;
}

// --- Rendering -------------------------------------------------------------------------------

}  // namespace gpufit::api

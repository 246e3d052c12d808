#include "config/proto_conversion.h"

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
#include "google/protobuf/util/json_util.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::config {
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

std::string OptionLabel(const core::Option& o) {
  const std::string id = o.accelerator != nullptr ? o.accelerator->id : "?";
  return absl::StrCat(id, " x", o.gpus_per_replica);
}

std::string FormatUsd(double usd) {
  return std::fabs(usd) < 1 ? absl::StrFormat("$%.3f", usd) : absl::StrFormat("$%.2f", usd);
}

// "1.9x more" / "the same"; `ratio` = other / best.
std::string HowMuchMore(double ratio) {
  if (!std::isfinite(ratio)) return "more";
  if (ratio < 1.005) return "the same";
  return absl::StrFormat("%.1fx more", ratio);
}

// "output tokens", "images": what usd_per_million_tokens counts for `unit`.
std::string UnitPlural(const std::string& unit) {
  return unit.empty() || unit == "token" ? "output tokens" : unit + "s";
}

std::string ExplainCost(const core::Option& best, const core::Option& next,
                        const std::string& unit) {
  // Training jobs are compared by the cost of the whole job; serving by $/hour for the target.
  if (best.training_cost_usd > 0 && next.training_cost_usd > 0) {
    return absl::StrCat("next best ", OptionLabel(next), " costs ",
                        HowMuchMore(next.training_cost_usd / best.training_cost_usd),
                        " for the job (", FormatUsd(next.training_cost_usd), " vs ",
                        FormatUsd(best.training_cost_usd), ")");
  }
  const double hourly = best.cost_usd_per_hour > 0 ? next.cost_usd_per_hour / best.cost_usd_per_hour
                                                   : std::numeric_limits<double>::quiet_NaN();
  const double per_million = best.usd_per_million_tokens > 0
                                 ? next.usd_per_million_tokens / best.usd_per_million_tokens
                                 : std::numeric_limits<double>::quiet_NaN();
  const std::string prefix = absl::StrCat("next best ", OptionLabel(next), " costs ");
  if (hourly >= 1.005) {
    return absl::StrCat(prefix, HowMuchMore(hourly), " per hour (",
                        FormatUsd(next.cost_usd_per_hour), "/h vs ",
                        FormatUsd(best.cost_usd_per_hour), "/h)");
  }
  // Same $/hour for the target (e.g. one replica of equally priced parts): the tie was
  // broken per unit of work, so say that.
  if (per_million >= 1.005) {
    return absl::StrCat(prefix, std::isfinite(hourly) ? "the same per hour but " : "",
                        HowMuchMore(per_million), " per 1M ", UnitPlural(unit), " (",
                        FormatUsd(next.usd_per_million_tokens), " vs ",
                        FormatUsd(best.usd_per_million_tokens), ")");
  }
  return absl::StrCat(prefix, "the same");
}

std::string ExplainLatency(const core::Option& best, const core::Option& next) {
  return absl::StrFormat("TPOT %.1f ms, TTFT %.0f ms; next best %s: TPOT %.1f ms, TTFT %.0f ms",
                         best.prediction.tpot_ms, best.prediction.ttft_ms, OptionLabel(next),
                         next.prediction.tpot_ms, next.prediction.ttft_ms);
}

double Throughput(const core::Option& o) {
  return o.prediction.output_tokens_per_second > 0 ? o.prediction.output_tokens_per_second
                                                   : o.prediction.items_per_second;
}

// Non-finite doubles print as JSON strings ("Infinity"); keep them out of the API.
double Finite(double v) { return std::isfinite(v) ? v : 0; }

// True if YAML would read the plain scalar `s` as something other than a string (null, a
// boolean in YAML 1.1 or 1.2, a number), so a string with this text must be quoted.
bool PlainScalarIsNotString(const std::string& s) {
  if (s.empty()) return true;
  static const char* const kKeywords[] = {"null", "~", "true", "false", "yes",   "no",    "on",
                                          "off",  "y", "n",    ".inf",  "-.inf", "+.inf", ".nan"};
  const std::string lower = absl::AsciiStrToLower(s);
  for (const char* k : kKeywords) {
    if (lower == k) return true;
  }
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end != nullptr && *end == '\0';
}

void EmitYaml(const YAML::Node& node, YAML::Emitter& out) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key << kv.first.Scalar() << YAML::Value;
        EmitYaml(kv.second, out);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) EmitYaml(item, out);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!": in the JSON those are strings.
      if (node.Tag() == "!" && PlainScalarIsNotString(node.Scalar())) {
        out << YAML::DoubleQuoted << node.Scalar();
      } else {
        out << node.Scalar();
      }
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      break;
  }
}

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
    p.set_reason(core::RejectionText(o));
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
  p.set_explanation(ExplainDecision(d, objective));
  return p;
}

std::string ExplainDecision(const core::Decision& d, core::Objective objective) {
  const core::Option* best = d.recommendation();
  int feasible = 0;
  int memory = 0, slo = 0, capability = 0;
  const core::Option* next = nullptr;
  for (const core::Option& o : d.options) {
    if (o.feasible) {
      ++feasible;
      if (&o != best && next == nullptr) next = &o;
      continue;
    }
    switch (o.rejection.cls) {
      case core::RejectClass::kMemory:
        ++memory;
        break;
      case core::RejectClass::kSlo:
        ++slo;
        break;
      case core::RejectClass::kCapability:
        ++capability;
        break;
      case core::RejectClass::kNone:
        break;
    }
  }
  if (best == nullptr) {
    return absl::StrFormat(
        "nothing can serve it: all %d options rejected (%d memory, %d slo, %d capability)",
        d.options.size(), memory, slo, capability);
  }
  if (next == nullptr) {
    return absl::StrFormat("the only feasible option of %d evaluated", d.options.size());
  }
  switch (objective) {
    case core::Objective::kCost:
      return absl::StrFormat("cheapest of %d feasible options; %s", feasible,
                             ExplainCost(*best, *next, d.unit));
    case core::Objective::kLatency:
      return absl::StrFormat("lowest latency of %d feasible options (%s)", feasible,
                             ExplainLatency(*best, *next));
    case core::Objective::kThroughput:
      return absl::StrFormat(
          "highest throughput per replica of %d feasible options (%.0f/s); next best %s: %.0f/s",
          feasible, Throughput(*best), OptionLabel(*next), Throughput(*next));
  }
  return "";
}

// --- Catalog ---------------------------------------------------------------------------------

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

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  std::string json;
  // Printing fails only for Any with an unresolvable type URL, which gpufit's API has none of.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

std::string ToYaml(const google::protobuf::Message& message) {
  // JSON is YAML (1.2): yaml-cpp reads it as is; re-emitting gives block style.
  const YAML::Node node = YAML::Load(ToJson(message));
  YAML::Emitter out;
  out.SetIndent(2);
  EmitYaml(node, out);
  std::string yaml = out.c_str();
  yaml.push_back('\n');
  return yaml;
}

}  // namespace gpufit::config

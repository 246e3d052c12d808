#include "config/workload_loader.h"

#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/yaml_reader.h"
#include "core/status_macros.h"

namespace gpufit::config {
namespace {

using internal::Bound;
using internal::FieldPath;
using internal::YamlReader;

absl::StatusOr<core::Precision> ReadPrecision(const YamlReader& r, const YAML::Node& v,
                                              const std::string& path) {
  return r.Enum<core::Precision>(
      v, path, core::ParsePrecision, core::PrecisionName,
      {core::Precision::kFp32, core::Precision::kBf16, core::Precision::kFp16,
       core::Precision::kFp8, core::Precision::kInt8, core::Precision::kInt4});
}

absl::Status ReadTraffic(const YamlReader& r, const YAML::Node& node, const std::string& path,
                         core::Traffic* t) {
  return r.ForEachField(
      node, path,
      {"concurrency", "requests_per_second", "tokens_per_second", "tokens_per_day", "input_tokens",
       "output_tokens", "max_context_tokens"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        // Zero means "not given" in core::Traffic, so only concurrency, whose absence is
        // spelled by leaving it out, must be strictly positive when written.
        if (key == "concurrency") {
          GPUFIT_ASSIGN_OR_RETURN(t->concurrency, r.Number(v, p, Bound::kPositive));
        } else if (key == "requests_per_second") {
          GPUFIT_ASSIGN_OR_RETURN(t->requests_per_second, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "tokens_per_second") {
          GPUFIT_ASSIGN_OR_RETURN(t->tokens_per_second, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "tokens_per_day") {
          GPUFIT_ASSIGN_OR_RETURN(t->tokens_per_day, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "input_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(t->input_tokens, r.Integer(v, p, 0));
        } else if (key == "output_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(t->output_tokens, r.Integer(v, p, 0));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(t->max_context_tokens, r.Integer(v, p, 0));
        }
        return absl::OkStatus();
      });
}

absl::Status ReadSlo(const YamlReader& r, const YAML::Node& node, const std::string& path,
                     core::Slo* slo) {
  return r.ForEachField(
      node, path, {"ttft_ms", "tpot_ms"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        // 0 = no target (core::Slo).
        GPUFIT_ASSIGN_OR_RETURN(const double ms, r.Number(v, p, Bound::kNonNegative));
        (key == "ttft_ms" ? slo->ttft_ms : slo->tpot_ms) = ms;
        return absl::OkStatus();
      });
}

absl::Status ReadTraining(const YamlReader& r, const YAML::Node& node, const std::string& path,
                          core::TrainingJob* job) {
  return r.ForEachField(
      node, path, {"dataset_tokens", "epochs", "micro_batch_size", "sequence_tokens", "lora_rank"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        // 0 selects the policy default for dataset, batch and sequence; an epoch count or
        // LoRA rank of 0 would describe no job at all.
        if (key == "dataset_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(job->dataset_tokens, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "epochs") {
          GPUFIT_ASSIGN_OR_RETURN(job->epochs, r.Integer(v, p, 1));
        } else if (key == "micro_batch_size") {
          GPUFIT_ASSIGN_OR_RETURN(job->micro_batch_size, r.Integer(v, p, 0));
        } else if (key == "sequence_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(job->sequence_tokens, r.Integer(v, p, 0));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(job->lora_rank, r.Integer(v, p, 1));
        }
        return absl::OkStatus();
      });
}

}  // namespace

namespace internal {

absl::StatusOr<core::Workload> ReadWorkload(const YamlReader& r, const YAML::Node& root,
                                            std::string_view path) {
  core::Workload w;
  std::optional<YAML::Node> model_key, architecture_key;  // for the exclusivity message
  GPUFIT_RETURN_IF_ERROR(r.ForEachField(
      root, path,
      {"name", "model", "architecture", "precision", "kv_cache_precision", "task", "traffic", "slo",
       "training", "objective", "isolation", "accelerators", "max_gpus_per_replica"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        if (key == "name") {
          GPUFIT_ASSIGN_OR_RETURN(w.name, r.String(v, p));
        } else if (key == "model") {
          model_key.emplace(v);
          GPUFIT_ASSIGN_OR_RETURN(w.model, r.String(v, p));
        } else if (key == "architecture") {
          architecture_key.emplace(v);
          core::ModelArchitecture arch;
          GPUFIT_RETURN_IF_ERROR(internal::ReadArchitecture(r, v, p, &arch, nullptr));
          if (arch.parameters_billion <= 0) {
            return r.Error(v, internal::FieldPath(p, "parameters_billion"), "required");
          }
          w.architecture = arch;
        } else if (key == "precision") {
          GPUFIT_ASSIGN_OR_RETURN(w.precision, ReadPrecision(r, v, p));
        } else if (key == "kv_cache_precision") {
          GPUFIT_ASSIGN_OR_RETURN(w.kv_cache_precision, ReadPrecision(r, v, p));
        } else if (key == "task") {
          GPUFIT_ASSIGN_OR_RETURN(
              w.task, r.Enum<core::Task>(v, p, core::ParseTask, core::TaskName,
                                         {core::Task::kLlmInference, core::Task::kEmbedding,
                                          core::Task::kSpeechToText, core::Task::kImageGeneration,
                                          core::Task::kFineTuneLora, core::Task::kFineTuneQlora,
                                          core::Task::kFineTuneFull, core::Task::kPretrain}));
        } else if (key == "traffic") {
          return ReadTraffic(r, v, p, &w.traffic);
        } else if (key == "slo") {
          return ReadSlo(r, v, p, &w.slo);
        } else if (key == "training") {
          return ReadTraining(r, v, p, &w.training);
        } else if (key == "objective") {
          GPUFIT_ASSIGN_OR_RETURN(
              w.objective,
              r.Enum<core::Objective>(v, p, core::ParseObjective, core::ObjectiveName,
                                      {core::Objective::kCost, core::Objective::kLatency,
                                       core::Objective::kThroughput}));
        } else if (key == "isolation") {
          GPUFIT_ASSIGN_OR_RETURN(
              w.isolation,
              r.Enum<core::Isolation>(v, p, core::ParseIsolation, core::IsolationName,
                                      {core::Isolation::kShared, core::Isolation::kDedicated}));
        } else if (key == "accelerators") {
          // An empty list means "no restriction", same as leaving it out (core::Workload).
          GPUFIT_ASSIGN_OR_RETURN(w.accelerators, r.StringList(v, p));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(w.max_gpus_per_replica, r.Integer(v, p, 0));
        }
        return absl::OkStatus();
      }));

  // Exactly one way of naming the model. Whether a preset id exists is the catalog's
  // business (core::ResolveWorkload), not the file format's.
  if (model_key.has_value() && architecture_key.has_value()) {
    return r.Error(*architecture_key, FieldPath(path, "architecture"),
                   "cannot be combined with model (give a preset id or an architecture, not both)");
  }
  if (!model_key.has_value() && !architecture_key.has_value()) {
    return r.Error(root, FieldPath(path, "model"),
                   "required (a preset id), or give architecture instead");
  }
  return w;
}

}  // namespace internal

absl::StatusOr<core::Workload> ParseWorkloadYaml(std::string_view yaml_text,
                                                 std::string_view filename) {
  const YamlReader r(filename);
  GPUFIT_ASSIGN_OR_RETURN(const YAML::Node root, r.ParseTopLevelMap(yaml_text, "workload"));
  return internal::ReadWorkload(r, root, "");
}

absl::StatusOr<core::Workload> LoadWorkloadFile(const std::string& path) {
  GPUFIT_ASSIGN_OR_RETURN(const std::string text, internal::ReadFileToString(path));
  return ParseWorkloadYaml(text, path);
}

bool LooksLikeCatalog(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root.reset(YAML::Load(std::string(yaml_text)));
  } catch (const YAML::Exception&) {
    return false;
  }
  const YAML::Node doc = root;  // const: lookups below must not insert keys
  if (!doc.IsMap()) return false;
  // A workload also has `accelerators:`, but as an allow-list of ids; a catalog's entries
  // are mappings. The other catalog sections never appear in a workload.
  for (const char* key : {"presets", "prices", "policy", "version"}) {
    if (doc[key].IsDefined()) return true;
  }
  const YAML::Node accelerators = doc["accelerators"];
  if (accelerators.IsDefined() && accelerators.IsSequence()) {
    for (size_t i = 0; i < accelerators.size(); ++i) {
      if (accelerators[i].IsMap()) return true;
    }
  }
  return false;
}

}  // namespace gpufit::config

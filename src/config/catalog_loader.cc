#include "config/catalog_loader.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "config/yaml_reader.h"
#include "core/limits.h"
#include "core/status_macros.h"
#include "core/task.h"

namespace gpufit::config {

// Defined in the build-generated embedded_catalog.cc (cmake/embed_file.cmake).
extern const std::string_view kEmbeddedCatalogYaml;

namespace {

using internal::Bound;
using internal::FieldPath;
using internal::IndexPath;
using internal::YamlReader;

// Name used for the compiled-in text in messages: the file it was embedded from.
constexpr std::string_view kEmbeddedFilename = "configs/catalog.yaml";

// The catalog before core::Catalog::Create: what overlays edit. Applying the default file
// to an empty CatalogData and a user file to the default's CatalogData is the same code,
// so the default is held to exactly the rules a user file is.
struct CatalogData {
  std::string version;
  std::vector<core::Accelerator> accelerators;
  std::vector<core::ModelPreset> presets;
  core::Policy policy;
};

// Fields a new accelerator must set. The rest have safe defaults: full sustained compute,
// one GPU per node, no video engines, no MIG.
constexpr std::string_view kRequiredAcceleratorFields[] = {
    "display_name", "architecture", "memory_gib", "memory_bandwidth_gbps", "fp16_tflops",
    "fp8_tflops",   "int8_tops",    "tdp_watts",  "nvlink_gbps",           "price_usd_per_hour"};
constexpr std::string_view kRequiredPresetFields[] = {"display_name", "task", "architecture"};

// FNV-1a 64-bit (http://www.isthe.com/chongo/tech/comp/fnv/): tiny, stable across
// platforms and releases, which is all a config fingerprint needs.
constexpr uint64_t kFnvOffsetBasis = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t Fnv1a(uint64_t hash, std::string_view text) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= kFnvPrime;
  }
  return hash;
}

std::string HashString(uint64_t hash) {
  // 12 hex digits = 48 bits: collisions among the handful of catalogs a fleet sees are
  // negligible, and the string stays short enough for a metric label.
  return absl::StrFormat("%016x", hash).substr(0, 12);
}

template <typename T>
T* FindById(std::vector<T>& items, std::string_view id) {
  for (T& item : items) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

absl::Status CheckId(const YamlReader& r, const YAML::Node& node, const std::string& path,
                     std::string_view id) {
  // '/' separates a GPU from its MIG profile in slice ids ("a100-80gb/1g.10gb").
  if (id.find('/') != std::string_view::npos) {
    return r.Error(node, path, "must not contain '/' (reserved for MIG slice ids)");
  }
  return absl::OkStatus();
}

// Reads `entry` (a mapping with an `id`) into the list: an existing id is copied and only
// the given fields change; a new id must set `required`. Also rejects an id repeated within
// the same file, where the second entry would silently merge into the first.
template <typename T>
absl::Status ApplyEntry(
    const YamlReader& r, const YAML::Node& entry, const std::string& path, std::string_view kind,
    absl::Span<const std::string_view> required, std::set<std::string>* ids_in_file,
    std::vector<T>* items,
    absl::FunctionRef<absl::Status(T* item, std::set<std::string>* given)> read_fields) {
  GPUFIT_RETURN_IF_ERROR(r.ExpectMap(entry, path));
  const YAML::Node id_node = entry["id"];
  if (!id_node.IsDefined()) return r.Error(entry, FieldPath(path, "id"), "required");
  GPUFIT_ASSIGN_OR_RETURN(std::string id, r.String(id_node, FieldPath(path, "id")));
  GPUFIT_RETURN_IF_ERROR(CheckId(r, id_node, FieldPath(path, "id"), id));
  if (!ids_in_file->insert(id).second) {
    return r.Error(
        id_node, FieldPath(path, "id"),
        absl::StrCat("duplicate ", internal::AsAbsl(kind), " id '", id, "' in this file"));
  }

  T* existing = FindById(*items, id);
  T item = existing != nullptr ? *existing : T{};
  item.id = id;
  std::set<std::string> given;
  GPUFIT_RETURN_IF_ERROR(read_fields(&item, &given));
  if (existing == nullptr) {
    for (std::string_view field : required) {
      if (given.count(std::string(field)) == 0) {
        return r.Error(entry, FieldPath(path, field),
                       absl::StrCat("required for new ", internal::AsAbsl(kind), " '", id, "'"));
      }
    }
    items->push_back(std::move(item));
  } else {
    *existing = std::move(item);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<core::MigProfile>> ReadMigProfiles(const YamlReader& r,
                                                              const YAML::Node& node,
                                                              const std::string& path) {
  GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(node, path));
  std::vector<core::MigProfile> profiles;
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node entry = node[i];
    const std::string entry_path = IndexPath(path, i);
    core::MigProfile profile;
    std::set<std::string> given;
    GPUFIT_RETURN_IF_ERROR(r.ForEachField(
        entry, entry_path, {"name", "compute_slices", "memory_slices", "max_instances"},
        [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
          given.insert(std::string(key));
          if (key == "name") {
            GPUFIT_ASSIGN_OR_RETURN(profile.name, r.String(v, p));
            if (!names.insert(profile.name).second) {
              return r.Error(v, p, absl::StrCat("duplicate MIG profile '", profile.name, "'"));
            }
          } else if (key == "compute_slices") {
            // MIG GPUs have 7 compute slices and 8 memory slices (NVIDIA MIG user guide).
            GPUFIT_ASSIGN_OR_RETURN(profile.compute_slices, r.Integer(v, p, 1, 7));
          } else if (key == "memory_slices") {
            GPUFIT_ASSIGN_OR_RETURN(profile.memory_slices, r.Integer(v, p, 1, 8));
          } else {
            GPUFIT_ASSIGN_OR_RETURN(profile.max_instances, r.Integer(v, p, 1, 7));
          }
          return absl::OkStatus();
        }));
    for (std::string_view field : {"name", "compute_slices", "memory_slices", "max_instances"}) {
      if (given.count(std::string(field)) == 0) {
        return r.Error(entry, FieldPath(entry_path, field), "required");
      }
    }
    profiles.push_back(std::move(profile));
  }
  return profiles;
}

absl::Status ReadAcceleratorFields(const YamlReader& r, const YAML::Node& entry,
                                   const std::string& path, core::Accelerator* a,
                                   std::set<std::string>* given) {
  return r.ForEachField(
      entry, path,
      {"id", "display_name", "architecture", "memory_gib", "memory_bandwidth_gbps", "fp16_tflops",
       "fp8_tflops", "int8_tops", "sustained_compute_fraction", "tdp_watts", "nvlink_gbps",
       "gpus_per_node", "video_decoders", "video_encoders", "price_usd_per_hour", "mig_profiles"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        given->insert(std::string(key));
        if (key == "id") return absl::OkStatus();  // read by ApplyEntry
        if (key == "display_name") {
          GPUFIT_ASSIGN_OR_RETURN(a->display_name, r.String(v, p));
        } else if (key == "architecture") {
          GPUFIT_ASSIGN_OR_RETURN(a->architecture, r.String(v, p));
        } else if (key == "memory_gib") {
          GPUFIT_ASSIGN_OR_RETURN(a->memory_gib, r.Number(v, p, Bound::kPositive));
        } else if (key == "memory_bandwidth_gbps") {
          GPUFIT_ASSIGN_OR_RETURN(a->memory_bandwidth_gbps, r.Number(v, p, Bound::kPositive));
        } else if (key == "fp16_tflops") {
          GPUFIT_ASSIGN_OR_RETURN(a->fp16_tflops, r.Number(v, p, Bound::kPositive));
        } else if (key == "fp8_tflops") {
          // 0 is meaningful: no FP8 tensor path (Turing, Ampere).
          GPUFIT_ASSIGN_OR_RETURN(a->fp8_tflops, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "int8_tops") {
          GPUFIT_ASSIGN_OR_RETURN(a->int8_tops, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "sustained_compute_fraction") {
          GPUFIT_ASSIGN_OR_RETURN(a->sustained_compute_fraction, r.Number(v, p, Bound::kFraction));
        } else if (key == "tdp_watts") {
          GPUFIT_ASSIGN_OR_RETURN(a->tdp_watts, r.Number(v, p, Bound::kPositive));
        } else if (key == "nvlink_gbps") {
          GPUFIT_ASSIGN_OR_RETURN(a->nvlink_gbps, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "gpus_per_node") {
          GPUFIT_ASSIGN_OR_RETURN(a->gpus_per_node, r.Integer(v, p, 1));
        } else if (key == "video_decoders") {
          GPUFIT_ASSIGN_OR_RETURN(a->video_decoders, r.Integer(v, p, 0));
        } else if (key == "video_encoders") {
          GPUFIT_ASSIGN_OR_RETURN(a->video_encoders, r.Integer(v, p, 0));
        } else if (key == "price_usd_per_hour") {
          // > 0: cost per token and tokens per dollar divide by it.
          GPUFIT_ASSIGN_OR_RETURN(a->price_usd_per_hour,
                                  r.Number(v, p, Bound::kPositive, core::kMaxPriceUsdPerHour));
        } else {
          // A given list replaces the whole list; `mig_profiles: []` turns MIG off.
          GPUFIT_ASSIGN_OR_RETURN(a->mig_profiles, ReadMigProfiles(r, v, p));
        }
        return absl::OkStatus();
      });
}

// True if `id` names a whole GPU of `gpus` or one of its MIG slices ("a100-80gb/1g.10gb").
bool IsKnownAccelerator(const std::vector<core::Accelerator>& gpus, std::string_view id) {
  const size_t slash = id.find('/');
  const std::string_view gpu_id = id.substr(0, slash);
  for (const core::Accelerator& gpu : gpus) {
    if (gpu.id != gpu_id) continue;
    if (slash == std::string_view::npos) return true;
    for (const core::MigProfile& profile : gpu.mig_profiles) {
      if (profile.name == id.substr(slash + 1)) return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<core::MeasuredRate>> ReadMeasuredRates(
    const YamlReader& r, const YAML::Node& node, const std::string& path,
    const std::vector<core::Accelerator>& gpus) {
  GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(node, path));
  std::vector<core::MeasuredRate> rates;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node entry = node[i];
    const std::string entry_path = IndexPath(path, i);
    core::MeasuredRate rate;
    bool has_accelerator = false;
    bool has_rate = false;
    GPUFIT_RETURN_IF_ERROR(r.ForEachField(
        entry, entry_path, {"accelerator", "items_per_second"},
        [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
          if (key == "accelerator") {
            has_accelerator = true;
            GPUFIT_ASSIGN_OR_RETURN(rate.accelerator_id, r.String(v, p));
            if (!IsKnownAccelerator(gpus, rate.accelerator_id)) {
              return r.Error(v, p, absl::StrCat("unknown accelerator '", rate.accelerator_id, "'"));
            }
          } else {
            has_rate = true;
            GPUFIT_ASSIGN_OR_RETURN(rate.items_per_second, r.Number(v, p, Bound::kPositive));
          }
          return absl::OkStatus();
        }));
    if (!has_accelerator) return r.Error(entry, FieldPath(entry_path, "accelerator"), "required");
    if (!has_rate) return r.Error(entry, FieldPath(entry_path, "items_per_second"), "required");
    rates.push_back(std::move(rate));
  }
  return rates;
}

absl::Status ReadPresetFields(const YamlReader& r, const YAML::Node& entry, const std::string& path,
                              const std::vector<core::Accelerator>& gpus, core::ModelPreset* m,
                              std::set<std::string>* given) {
  return r.ForEachField(
      entry, path,
      {"id", "display_name", "source", "task", "max_context_tokens", "architecture",
       "resident_memory_gib", "per_item_memory_gib", "item_unit", "measured_rates"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        given->insert(std::string(key));
        if (key == "id") return absl::OkStatus();  // read by ApplyEntry
        if (key == "display_name") {
          GPUFIT_ASSIGN_OR_RETURN(m->display_name, r.String(v, p));
        } else if (key == "source") {
          GPUFIT_ASSIGN_OR_RETURN(m->source, r.String(v, p));
        } else if (key == "task") {
          GPUFIT_ASSIGN_OR_RETURN(
              m->task, r.Enum<core::Task>(v, p, core::ParseTask, core::TaskName,
                                          {core::Task::kLlmInference, core::Task::kEmbedding,
                                           core::Task::kSpeechToText, core::Task::kImageGeneration,
                                           core::Task::kFineTuneLora, core::Task::kFineTuneQlora,
                                           core::Task::kFineTuneFull, core::Task::kPretrain}));
        } else if (key == "max_context_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(m->max_context_tokens, r.Integer(v, p, 1));
        } else if (key == "architecture") {
          // Merges field by field, so an overlay can correct one number of a preset.
          std::set<std::string> arch_given;
          GPUFIT_RETURN_IF_ERROR(
              internal::ReadArchitecture(r, v, p, &m->architecture, &arch_given));
          if (m->architecture.parameters_billion <= 0) {
            return r.Error(v, FieldPath(p, "parameters_billion"), "required");
          }
        } else if (key == "resident_memory_gib") {
          GPUFIT_ASSIGN_OR_RETURN(m->resident_memory_gib, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "per_item_memory_gib") {
          GPUFIT_ASSIGN_OR_RETURN(m->per_item_memory_gib, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "item_unit") {
          GPUFIT_ASSIGN_OR_RETURN(m->item_unit, r.String(v, p));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(m->measured_rates, ReadMeasuredRates(r, v, p, gpus));
        }
        return absl::OkStatus();
      });
}

absl::Status ReadModelConstants(const YamlReader& r, const YAML::Node& node,
                                const std::string& path, core::ModelConstants* c) {
  return r.ForEachField(
      node, path,
      {"memory_bandwidth_utilization", "decode_mfu", "prefill_mfu", "training_mfu",
       "step_overhead_ms", "tensor_parallel_efficiency", "allreduce_latency_us",
       "int8_compute_efficiency", "gpu_memory_utilization", "runtime_overhead_gib", "max_num_seqs",
       "max_num_batched_tokens"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        // Efficiencies are fractions of a peak; times and overheads may be zero.
        if (key == "memory_bandwidth_utilization") {
          GPUFIT_ASSIGN_OR_RETURN(c->memory_bandwidth_utilization,
                                  r.Number(v, p, Bound::kFraction));
        } else if (key == "decode_mfu") {
          GPUFIT_ASSIGN_OR_RETURN(c->decode_mfu, r.Number(v, p, Bound::kFraction));
        } else if (key == "prefill_mfu") {
          GPUFIT_ASSIGN_OR_RETURN(c->prefill_mfu, r.Number(v, p, Bound::kFraction));
        } else if (key == "training_mfu") {
          GPUFIT_ASSIGN_OR_RETURN(c->training_mfu, r.Number(v, p, Bound::kFraction));
        } else if (key == "step_overhead_ms") {
          GPUFIT_ASSIGN_OR_RETURN(c->step_overhead_ms, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "tensor_parallel_efficiency") {
          GPUFIT_ASSIGN_OR_RETURN(c->tensor_parallel_efficiency, r.Number(v, p, Bound::kFraction));
        } else if (key == "allreduce_latency_us") {
          GPUFIT_ASSIGN_OR_RETURN(c->allreduce_latency_us, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "int8_compute_efficiency") {
          GPUFIT_ASSIGN_OR_RETURN(c->int8_compute_efficiency, r.Number(v, p, Bound::kFraction));
        } else if (key == "gpu_memory_utilization") {
          GPUFIT_ASSIGN_OR_RETURN(c->gpu_memory_utilization, r.Number(v, p, Bound::kFraction));
        } else if (key == "runtime_overhead_gib") {
          GPUFIT_ASSIGN_OR_RETURN(c->runtime_overhead_gib, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "max_num_seqs") {
          GPUFIT_ASSIGN_OR_RETURN(c->max_num_seqs, r.Integer(v, p, 1));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(c->max_num_batched_tokens, r.Integer(v, p, 1));
        }
        return absl::OkStatus();
      });
}

absl::Status ReadPolicy(const YamlReader& r, const YAML::Node& node, core::Policy* policy) {
  return r.ForEachField(
      node, "policy",
      {"model", "replica_headroom", "energy_usd_per_kwh", "default_input_tokens",
       "default_output_tokens", "default_dataset_tokens", "default_micro_batch_size",
       "default_sequence_tokens"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        if (key == "model") return ReadModelConstants(r, v, p, &policy->model);
        if (key == "replica_headroom") {
          GPUFIT_ASSIGN_OR_RETURN(policy->replica_headroom, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "energy_usd_per_kwh") {
          GPUFIT_ASSIGN_OR_RETURN(policy->energy_usd_per_kwh, r.Number(v, p, Bound::kNonNegative));
        } else if (key == "default_input_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(policy->default_input_tokens, r.Integer(v, p, 1));
        } else if (key == "default_output_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(policy->default_output_tokens, r.Integer(v, p, 1));
        } else if (key == "default_dataset_tokens") {
          GPUFIT_ASSIGN_OR_RETURN(policy->default_dataset_tokens, r.Number(v, p, Bound::kPositive));
        } else if (key == "default_micro_batch_size") {
          GPUFIT_ASSIGN_OR_RETURN(policy->default_micro_batch_size, r.Integer(v, p, 1));
        } else {
          GPUFIT_ASSIGN_OR_RETURN(policy->default_sequence_tokens, r.Integer(v, p, 1));
        }
        return absl::OkStatus();
      });
}

// Applies one catalog document to `data`. Sections are applied in dependency order
// (accelerators, then prices, then presets whose measured rates name accelerators),
// whatever their order in the file.
absl::Status ApplyCatalogYaml(std::string_view text, std::string_view filename, TopLevelKeys keys,
                              CatalogData* data) {
  const YamlReader r(filename);
  GPUFIT_ASSIGN_OR_RETURN(const YAML::Node root, r.ParseTopLevelMap(text, "catalog"));
  // std::optional because a default-constructed YAML::Node is a defined null node, and
  // YAML::Node assignment rebinds references rather than copying a handle.
  std::optional<const YAML::Node> version, accelerators, prices, presets, policy;
  auto visit = [&](std::string_view key, const YAML::Node& v, const std::string&) {
    if (key == "version") version.emplace(v);
    if (key == "accelerators") accelerators.emplace(v);
    if (key == "prices") prices.emplace(v);
    if (key == "presets") presets.emplace(v);
    if (key == "policy") policy.emplace(v);
    return absl::OkStatus();  // `workloads`, `prometheus` (kAllowWorkloads): the caller's
  };
  GPUFIT_RETURN_IF_ERROR(
      keys == TopLevelKeys::kAllowWorkloads
          ? r.ForEachField(root, "",
                           {"version", "accelerators", "prices", "presets", "policy", "workloads",
                            "prometheus"},
                           visit)
          : r.ForEachField(root, "", {"version", "accelerators", "prices", "presets", "policy"},
                           visit));

  if (version.has_value()) {
    GPUFIT_ASSIGN_OR_RETURN(data->version, r.String(*version, "version"));
  }

  if (accelerators.has_value()) {
    GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(*accelerators, "accelerators"));
    std::set<std::string> ids;
    for (size_t i = 0; i < accelerators->size(); ++i) {
      const YAML::Node entry = (*accelerators)[i];
      const std::string path = IndexPath("accelerators", i);
      GPUFIT_RETURN_IF_ERROR(ApplyEntry<core::Accelerator>(
          r, entry, path, "accelerator", kRequiredAcceleratorFields, &ids, &data->accelerators,
          [&](core::Accelerator* a, std::set<std::string>* given) {
            return ReadAcceleratorFields(r, entry, path, a, given);
          }));
    }
  }

  if (prices.has_value()) {
    GPUFIT_RETURN_IF_ERROR(r.ExpectMap(*prices, "prices"));
    std::set<std::string> ids;
    for (YAML::const_iterator it = prices->begin(); it != prices->end(); ++it) {
      const YAML::Node key = it->first;  // copies: the iterator's pair is a temporary proxy
      const YAML::Node value = it->second;
      GPUFIT_ASSIGN_OR_RETURN(const std::string id, r.String(key, "prices"));
      const std::string path = FieldPath("prices", id);
      if (!ids.insert(id).second) return r.Error(key, path, "duplicate field");
      core::Accelerator* gpu = FindById(data->accelerators, id);
      if (gpu == nullptr) {
        // Slices are priced from their parent (core::MakeMigSlice), so they take no price.
        return r.Error(key, path,
                       id.find('/') != std::string::npos
                           ? absl::StrCat("unknown accelerator '", id,
                                          "' (MIG slices are priced from their parent GPU)")
                           : absl::StrCat("unknown accelerator '", id, "'"));
      }
      GPUFIT_ASSIGN_OR_RETURN(gpu->price_usd_per_hour,
                              r.Number(value, path, Bound::kPositive, core::kMaxPriceUsdPerHour));
    }
  }

  if (presets.has_value()) {
    GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(*presets, "presets"));
    std::set<std::string> ids;
    for (size_t i = 0; i < presets->size(); ++i) {
      const YAML::Node entry = (*presets)[i];
      const std::string path = IndexPath("presets", i);
      GPUFIT_RETURN_IF_ERROR(ApplyEntry<core::ModelPreset>(
          r, entry, path, "preset", kRequiredPresetFields, &ids, &data->presets,
          [&](core::ModelPreset* m, std::set<std::string>* given) {
            return ReadPresetFields(r, entry, path, data->accelerators, m, given);
          }));
    }
  }

  if (policy.has_value()) GPUFIT_RETURN_IF_ERROR(ReadPolicy(r, *policy, &data->policy));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const core::Catalog>> Build(CatalogData data,
                                                           std::string_view filename,
                                                           const std::string& hash) {
  std::string version = data.version.empty() ? "unversioned" : data.version;
  absl::StatusOr<core::Catalog> catalog =
      core::Catalog::Create(std::move(data.accelerators), std::move(data.presets),
                            std::move(data.policy), absl::StrCat(version, "+", hash));
  if (!catalog.ok()) {
    // Create's messages name the entry and field; add the file so the user knows which.
    return absl::Status(catalog.status().code(),
                        absl::StrCat(internal::AsAbsl(filename), ": ", catalog.status().message()));
  }
  return std::make_shared<const core::Catalog>(*std::move(catalog));
}

[[noreturn]] void DieOnInvalidDefault(const absl::Status& status) {
  // The embedded text is part of the binary: if it does not load, the build is broken and
  // no request could be answered correctly.
  std::fprintf(stderr, "gpufit: the compiled-in catalog is invalid (build bug): %s\n",
               status.ToString().c_str());
  std::abort();
}

const CatalogData& DefaultData() {
  static const CatalogData* const data = [] {
    auto* d = new CatalogData();
    if (absl::Status s = ApplyCatalogYaml(kEmbeddedCatalogYaml, kEmbeddedFilename,
                                          TopLevelKeys::kCatalogOnly, d);
        !s.ok()) {
      DieOnInvalidDefault(s);
    }
    return d;
  }();
  return *data;
}

}  // namespace

std::string CatalogVersion(std::string_view yaml_text) {
  return HashString(Fnv1a(kFnvOffsetBasis, yaml_text));
}

std::shared_ptr<const core::Catalog> DefaultCatalog() {
  static const std::shared_ptr<const core::Catalog> catalog = [] {
    absl::StatusOr<std::shared_ptr<const core::Catalog>> c =
        Build(DefaultData(), kEmbeddedFilename, CatalogVersion(kEmbeddedCatalogYaml));
    if (!c.ok()) DieOnInvalidDefault(c.status());
    return *std::move(c);
  }();
  return catalog;
}

absl::StatusOr<std::shared_ptr<const core::Catalog>> LoadCatalogOverlay(std::string_view yaml_text,
                                                                        std::string_view filename,
                                                                        TopLevelKeys keys) {
  CatalogData data = DefaultData();
  GPUFIT_RETURN_IF_ERROR(ApplyCatalogYaml(yaml_text, filename, keys, &data));
  // The catalog in force is the default plus the overlay: fingerprint both, with a
  // separator byte no YAML text contains so that moving text across the boundary matters.
  uint64_t hash = Fnv1a(kFnvOffsetBasis, kEmbeddedCatalogYaml);
  hash = Fnv1a(hash, std::string_view("\0", 1));
  hash = Fnv1a(hash, yaml_text);
  return Build(std::move(data), filename, HashString(hash));
}

absl::StatusOr<std::shared_ptr<const core::Catalog>> LoadCatalogFile(const std::string& path) {
  GPUFIT_ASSIGN_OR_RETURN(const std::string text, internal::ReadFileToString(path));
  return LoadCatalogOverlay(text, path);
}

}  // namespace gpufit::config

#include "core/catalog.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status_macros.h"

namespace gpufit::core {
namespace {

absl::Status CheckAccelerator(const Accelerator& a, size_t i) {
  const std::string at = absl::StrCat("accelerators[", i, "] (", a.id, ")");
  if (a.id.empty()) return absl::InvalidArgumentError(absl::StrCat(at, ".id: must be set"));
  if (a.id.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ".id: '/' is reserved for MIG slices (parent/profile)"));
  }
  // Each figure finite and in range (core/limits.h): a price of 1e30 would abort the solver.
  const struct {
    const char* field;
    double value;
    bool positive;  // the model divides by it: > 0, not just >= 0
    double max;
  } kFigures[] = {
      {"memory_gib", a.memory_gib, true, kMaxMemoryGib},
      {"memory_bandwidth_gbps", a.memory_bandwidth_gbps, true, kMaxBandwidthGbps},
      {"fp16_tflops", a.fp16_tflops, true, kMaxTflops},
      {"fp8_tflops", a.fp8_tflops, false, kMaxTflops},
      {"int8_tops", a.int8_tops, false, kMaxTflops},
      {"tdp_watts", a.tdp_watts, false, kMaxWatts},
      {"nvlink_gbps", a.nvlink_gbps, false, kMaxBandwidthGbps},
      {"price_usd_per_hour", a.price_usd_per_hour, false, kMaxPriceUsdPerHour},
  };
  for (const auto& f : kFigures) {
    const std::string path = absl::StrCat(at, ".", f.field);
    GPUFIT_RETURN_IF_ERROR(f.positive ? CheckPositive(path, f.value, f.max)
                                      : CheckRange(path, f.value, 0, f.max));
  }
  if (!(a.sustained_compute_fraction > 0 && a.sustained_compute_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ".sustained_compute_fraction: must be in (0, 1]"));
  }
  if (a.gpus_per_node < 1 || a.gpus_per_node > 64) {
    return absl::InvalidArgumentError(absl::StrCat(at, ".gpus_per_node: must be in 1..64"));
  }
  for (size_t j = 0; j < a.mig_profiles.size(); ++j) {
    const MigProfile& p = a.mig_profiles[j];
    const std::string pat = absl::StrCat(at, ".mig_profiles[", j, "]");
    if (p.name.empty()) return absl::InvalidArgumentError(absl::StrCat(pat, ".name: must be set"));
    // A100/H100/H200 have 7 compute slices and 8 memory slices (NVIDIA MIG user guide).
    if (p.compute_slices < 1 || p.compute_slices > 7) {
      return absl::InvalidArgumentError(absl::StrCat(pat, ".compute_slices: must be in 1..7"));
    }
    if (p.memory_slices < 1 || p.memory_slices > 8) {
      return absl::InvalidArgumentError(absl::StrCat(pat, ".memory_slices: must be in 1..8"));
    }
    if (p.max_instances < 1 || p.max_instances * p.compute_slices > 7) {
      return absl::InvalidArgumentError(absl::StrCat(
          pat, ".max_instances: must be >= 1 and max_instances x compute_slices <= 7"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPreset(const ModelPreset& p, size_t i) {
  const std::string at = absl::StrCat("presets[", i, "] (", p.id, ")");
  if (p.id.empty()) return absl::InvalidArgumentError(absl::StrCat(at, ".id: must be set"));
  const ModelArchitecture& a = p.architecture;
  GPUFIT_RETURN_IF_ERROR(CheckPositive(absl::StrCat(at, ".architecture.parameters_billion"),
                                       a.parameters_billion, kMaxParametersBillion));
  if (p.task == Task::kLlmInference) {
    if (a.layers <= 0 || a.hidden_size <= 0 || a.attention_heads <= 0 || a.kv_heads <= 0 ||
        a.vocab_size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          at,
          ".architecture: an llm-inference preset needs layers, hidden_size, attention_heads, "
          "kv_heads and vocab_size > 0"));
    }
  } else if (p.task == Task::kImageGeneration && p.measured_rates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ".measured_rates: an image-generation preset needs at least one"));
  }
  for (size_t j = 0; j < p.measured_rates.size(); ++j) {
    GPUFIT_RETURN_IF_ERROR(
        CheckPositive(absl::StrCat(at, ".measured_rates[", j, "].items_per_second"),
                      p.measured_rates[j].items_per_second, kMaxRatePerSecond));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Catalog> Catalog::Create(std::vector<Accelerator> gpus,
                                        std::vector<ModelPreset> presets, Policy policy,
                                        std::string version) {
  Catalog c;
  for (size_t i = 0; i < gpus.size(); ++i) {
    const Accelerator& gpu = gpus[i];
    if (absl::Status s = CheckAccelerator(gpu, i); !s.ok()) return s;
    c.accelerators_.push_back(gpu);
    // Slices from the largest to the smallest so that listings read top-down.
    std::vector<MigProfile> profiles = gpu.mig_profiles;
    std::stable_sort(profiles.begin(), profiles.end(),
                     [](const MigProfile& a, const MigProfile& b) {
                       return std::make_pair(a.compute_slices, a.memory_slices) >
                              std::make_pair(b.compute_slices, b.memory_slices);
                     });
    for (const MigProfile& p : profiles) c.accelerators_.push_back(MakeMigSlice(gpu, p));
  }
  for (size_t i = 0; i < c.accelerators_.size(); ++i) {
    if (!c.accelerator_index_.emplace(c.accelerators_[i].id, i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("accelerators: duplicate id '", c.accelerators_[i].id, "'"));
    }
  }
  for (size_t i = 0; i < presets.size(); ++i) {
    if (absl::Status s = CheckPreset(presets[i], i); !s.ok()) return s;
    for (const MeasuredRate& r : presets[i].measured_rates) {
      if (!c.accelerator_index_.contains(r.accelerator_id)) {
        return absl::InvalidArgumentError(absl::StrCat("presets[", i, "] (", presets[i].id,
                                                       ").measured_rates: unknown accelerator '",
                                                       r.accelerator_id, "'"));
      }
    }
    if (!c.preset_index_.emplace(presets[i].id, i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("presets: duplicate id '", presets[i].id, "'"));
    }
  }
  const ModelConstants& m = policy.model;
  auto fraction = [](double v) { return std::isfinite(v) && v > 0 && v <= 1; };
  if (!fraction(m.memory_bandwidth_utilization) || !fraction(m.decode_mfu) ||
      !fraction(m.prefill_mfu) || !fraction(m.training_mfu) ||
      !fraction(m.tensor_parallel_efficiency) || !fraction(m.int8_compute_efficiency) ||
      !fraction(m.gpu_memory_utilization)) {
    return absl::InvalidArgumentError(
        "policy.model: utilisation and efficiency fractions must be in (0, 1]");
  }
  GPUFIT_RETURN_IF_ERROR(
      CheckRange("policy.model.step_overhead_ms", m.step_overhead_ms, 0, kMaxOverheadMs));
  GPUFIT_RETURN_IF_ERROR(
      CheckRange("policy.model.runtime_overhead_gib", m.runtime_overhead_gib, 0, kMaxOverheadGib));
  GPUFIT_RETURN_IF_ERROR(CheckRange("policy.model.allreduce_latency_us", m.allreduce_latency_us, 0,
                                    kMaxOverheadMs * 1e3));
  if (m.max_num_seqs < 1 || m.max_num_batched_tokens < 1) {
    return absl::InvalidArgumentError(
        "policy.model: max_num_seqs and max_num_batched_tokens must be >= 1");
  }
  GPUFIT_RETURN_IF_ERROR(
      CheckRange("policy.replica_headroom", policy.replica_headroom, 0, kMaxHeadroom));
  GPUFIT_RETURN_IF_ERROR(
      CheckRange("policy.energy_usd_per_kwh", policy.energy_usd_per_kwh, 0, kMaxEnergyUsdPerKwh));
  if (policy.default_input_tokens < 1 || policy.default_output_tokens < 1 ||
      policy.default_input_tokens > kMaxTokens || policy.default_output_tokens > kMaxTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: default token counts must be in 1..", kMaxTokens));
  }
  GPUFIT_RETURN_IF_ERROR(CheckPositive("policy.default_dataset_tokens",
                                       policy.default_dataset_tokens, kMaxDatasetTokens));
  c.presets_ = std::move(presets);
  c.policy_ = policy;
  c.version_ = std::move(version);
  return c;
}

const Accelerator* Catalog::FindAccelerator(std::string_view id) const {
  auto it = accelerator_index_.find(absl::string_view(id.data(), id.size()));
  return it == accelerator_index_.end() ? nullptr : &accelerators_[it->second];
}

const ModelPreset* Catalog::FindPreset(std::string_view id) const {
  auto it = preset_index_.find(absl::string_view(id.data(), id.size()));
  return it == preset_index_.end() ? nullptr : &presets_[it->second];
}

}  // namespace gpufit::core

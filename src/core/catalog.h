// The catalog in force: accelerators (whole GPUs and their MIG slices), model presets and
// policy. Immutable once created; safe to share between threads (hold it by shared_ptr and
// swap the pointer to reload). Decisions keep pointers into it, so it must outlive them.
#ifndef GPUFIT_CORE_CATALOG_H_
#define GPUFIT_CORE_CATALOG_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/accelerator.h"
#include "core/model.h"
#include "core/policy.h"

namespace gpufit::core {

class Catalog {
 public:
  // Checks the entries (unique ids, positive specs, valid MIG geometry) and derives one
  // accelerator per MIG profile of each MIG-capable GPU. Errors name the entry and field.
  static absl::StatusOr<Catalog> Create(std::vector<Accelerator> gpus,
                                        std::vector<ModelPreset> presets, Policy policy,
                                        std::string version);

  // Whole GPUs in catalog order, each followed by its MIG slices (largest first).
  const std::vector<Accelerator>& accelerators() const { return accelerators_; }
  const std::vector<ModelPreset>& presets() const { return presets_; }
  const Policy& policy() const { return policy_; }
  const std::string& version() const { return version_; }

  const Accelerator* FindAccelerator(std::string_view id) const;  // nullptr if unknown
  const ModelPreset* FindPreset(std::string_view id) const;       // nullptr if unknown

 private:
  std::vector<Accelerator> accelerators_;
  std::vector<ModelPreset> presets_;
  Policy policy_;
  std::string version_;
  absl::flat_hash_map<std::string, size_t> accelerator_index_;
  absl::flat_hash_map<std::string, size_t> preset_index_;
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_CATALOG_H_

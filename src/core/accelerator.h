// An accelerator gpufit can place a workload on: a whole GPU (`l4`, `a100-80gb`) or a MIG
// slice of one (`a100-80gb/1g.10gb`). A slice is an accelerator in its own right, derived
// from its parent by MakeMigSlice(). Plain value type; copy freely.
#ifndef GPUFIT_CORE_ACCELERATOR_H_
#define GPUFIT_CORE_ACCELERATOR_H_

#include <string>
#include <vector>

namespace gpufit::core {

// One MIG GPU-instance profile of a MIG-capable GPU, e.g. A100 80GB `3g.40gb`.
// Source of the valid profiles: NVIDIA MIG user guide (supported-mig-profiles).
struct MigProfile {
  std::string name;        // "3g.40gb"
  int compute_slices = 0;  // of 7 (SM fraction = n/7)
  int memory_slices = 0;   // of 8 (memory and bandwidth fraction = m/8)
  int max_instances = 0;   // how many fit on one GPU
};

struct Accelerator {
  std::string id;            // contract: "l4", "a100-80gb", "a100-80gb/1g.10gb"
  std::string display_name;  // "NVIDIA L4"
  std::string architecture;  // "Ada Lovelace"
  // For a MIG slice: the whole GPU it is carved from, and the profile.
  std::string parent_id;
  std::string mig_profile;
  int compute_slices = 7;
  int memory_slices = 8;

  double memory_gib = 0;             // as the driver reports it (GFD nvidia.com/gpu.memory / 1024)
  double memory_bandwidth_gbps = 0;  // GB/s
  double fp16_tflops = 0;            // dense FP16/BF16 tensor
  double fp8_tflops = 0;             // dense FP8 tensor; 0 = no FP8 hardware path
  double int8_tops = 0;              // dense INT8 tensor
  // Fraction of peak tensor throughput the board sustains under continuous GEMMs. 1 for
  // datacenter parts; below 1 for ~70 W cards that power-cap their clocks (see catalog).
  double sustained_compute_fraction = 1.0;
  double tdp_watts = 0;
  double nvlink_gbps = 0;         // per-GPU NVLink bandwidth; 0 = none (no tensor parallelism)
  int gpus_per_node = 1;          // largest tensor-parallel group on one node
  int video_decoders = 0;         // NVDEC engines (media decode for speech/video)
  int video_encoders = 0;         // NVENC engines
  double price_usd_per_hour = 0;  // on-demand, per GPU (or per slice)
  std::vector<MigProfile> mig_profiles;  // empty = not MIG-capable

  bool is_mig_slice() const { return !parent_id.empty(); }
  bool has_fp8() const { return fp8_tflops > 0; }
  bool has_nvlink() const { return nvlink_gbps > 0; }
};

// Derives the slice `parent.id + "/" + profile.name`: compute n/7, memory, bandwidth and
// decoders m/8 of the parent (NVIDIA MIG user guide: memory slices own their memory
// controllers and L2), price = the parent's price x max(n/7, m/8) (the share of the GPU the
// slice blocks), power x n/7. No NVLink, no further MIG.
Accelerator MakeMigSlice(const Accelerator& parent, const MigProfile& profile);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_ACCELERATOR_H_

#include "core/accelerator.h"

#include <algorithm>
#include <cmath>

namespace gpufit::core {

Accelerator MakeMigSlice(const Accelerator& parent, const MigProfile& profile) {
  const double compute = profile.compute_slices / 7.0;
  const double memory = profile.memory_slices / 8.0;
  Accelerator s;
  s.id = parent.id + "/" + profile.name;
  s.display_name = parent.display_name + " MIG " + profile.name;
  s.architecture = parent.architecture;
  s.parent_id = parent.id;
  s.mig_profile = profile.name;
  s.compute_slices = profile.compute_slices;
  s.memory_slices = profile.memory_slices;
  s.memory_gib = parent.memory_gib * memory;
  s.memory_bandwidth_gbps = parent.memory_bandwidth_gbps * memory;
  s.fp16_tflops = parent.fp16_tflops * compute;
  s.fp8_tflops = parent.fp8_tflops * compute;
  s.int8_tops = parent.int8_tops * compute;
  s.sustained_compute_fraction = parent.sustained_compute_fraction;
  s.tdp_watts = parent.tdp_watts * compute;
  s.nvlink_gbps = 0;
  s.gpus_per_node = 1;
  s.video_decoders = static_cast<int>(std::floor(parent.video_decoders * memory));
  s.video_encoders = 0;
  // A slice blocks the larger of its compute and memory shares of the GPU (a 1g.20gb takes
  // 2 of 8 memory slices, so only 4 fit): that share of the GPU's price is what it costs.
  s.price_usd_per_hour = parent.price_usd_per_hour * std::max(compute, memory);
  return s;
}

}  // namespace gpufit::core

// Synthetic bucketed planning instances in the Mélange solver's JSON format (read by
// melange_instance.h), for any number of buckets: the shared set in
// tests/testdata/data/fleet-instances has only 4x4 and 8x8 buckets, and the fleet planner's goal
// also covers 10x10 and 12x12. The instances are synthetic, not measurements: throughput
// follows a roofline-shaped model of a 7B model at a 120 ms per-token target whose per-GPU
// parameters were fitted (least squares on log throughput) to the shared 8x8 tables, plus
// multiplicative noise of the size the fit leaves; the request mix is the shared files'
// `mixed` distribution, recovered exactly (80% chat, 20% long documents, lognormal input and
// output lengths). Deterministic: the same spec gives the same bytes.
#ifndef GPUFIT_TESTS_SUPPORT_MELANGE_GENERATOR_H_
#define GPUFIT_TESTS_SUPPORT_MELANGE_GENERATOR_H_

#include <cstdint>
#include <string>

namespace gpufit::melange {

struct MelangeInstanceSpec {
  int buckets = 12;  // buckets per axis: buckets x buckets (input x output)
  bool mig = false;  // add A100-MIG-1g/2g/3g at exactly k/7 of an A100 (the shared `mig7`)
  double requests_per_second = 32;
  int slice_factor = 4;
  uint64_t seed = 1;  // throughput noise; the same seed gives every rate and slice factor
                      // the same tables, as in the shared set
};

// The instance as JSON text (gpu_info, workload_distribution, total_request_rate,
// slice_factor). `buckets` must be in 1..64.
std::string GenerateMelangeInstance(const MelangeInstanceSpec& spec);

// "synthetic_mixed_g12_mig7_r032_sf4", after the shared files' names.
std::string MelangeInstanceName(const MelangeInstanceSpec& spec);

// The noise-free model: requests/s one GPU sustains at the 120 ms per-token target.
// `gpu` is "L4", "A10G", "A100-80GB" or "H100"; 0 for any other.
double MelangeModelRequestsPerSecond(const std::string& gpu, double input_tokens,
                                     double output_tokens);

// Geometric centre of bucket `index` of `buckets` log-spaced buckets over [lo, hi].
double MelangeBucketCentre(double lo, double hi, int buckets, int index);

}  // namespace gpufit::melange

#endif  // GPUFIT_TESTS_SUPPORT_MELANGE_GENERATOR_H_

// MIG geometry of one physical GPU: where each GPU-instance profile may start, and every
// maximal way ("pattern") of carving a GPU into slices. Fleet planning buys patterns, not
// loose slices, so that the number of physical GPUs and the layout of each are exact.
// Pure functions of their arguments; thread-safe.
#ifndef GPUFIT_CORE_FLEET_MIG_H_
#define GPUFIT_CORE_FLEET_MIG_H_

#include <string>
#include <vector>

#include "core/accelerator.h"

namespace gpufit::core {

// Legal start positions of `profile` on A100/H100/H200 (7 compute slices, 8 memory slots).
// NVIDIA MIG user guide, "A100/H100 MIG profiles" placement table (`nvidia-smi mig -lgipp`):
// an instance occupies `memory_slices` consecutive slots starting at a multiple of its size,
// and its compute slices [start, start + compute_slices) must lie within the 7 compute
// slices. This reproduces the guide's table, e.g. on A100 80GB 1g.10gb {0..6}, 1g.20gb
// {0,2,4,6}, 2g.20gb {0,2,4}, 3g.40gb {0,4}, 4g.40gb {0}, 7g.80gb {0}.
std::vector<int> MigStartSlots(const MigProfile& profile);

// One placed GPU instance: profile index (into the GPU's mig_profiles) and start slot.
struct MigPlacement {
  int profile = 0;
  int start = 0;
};

// A valid layout of one physical GPU. `counts[p]` = instances of profile p.
struct MigPattern {
  std::vector<int> counts;
  std::vector<MigPlacement> placements;  // one valid placement realising `counts`
  std::string name;                      // "all-3g.40gb", "4g.40gb-1x3g.40gb"; see PatternName
};

// Every valid pattern that no other valid pattern contains (as a multiset of profiles):
// any valid layout is a sub-multiset of one of these, and unused instances cost nothing, so
// these are all the optimiser needs. Deterministic order (lexicographic on placements).
// `profiles` are those the planner may use (a subset of the GPU's); an empty list gives {}.
std::vector<MigPattern> EnumerateMigPatterns(const std::vector<MigProfile>& profiles);

// Places `counts` instances on one GPU if possible (depth-first over legal starts, larger
// instances first). Returns false if no valid layout holds them all.
bool PlaceMigInstances(const std::vector<MigProfile>& profiles, const std::vector<int>& counts,
                       std::vector<MigPlacement>* placements);

// "2x3g.40gb", "1x4g.40gb+1x3g.40gb" (largest profile first): the mig-parted config name.
std::string MigPatternName(const std::vector<MigProfile>& profiles, const std::vector<int>& counts);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_MIG_H_

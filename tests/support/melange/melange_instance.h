// Reads a bucketed planning instance in the Mélange solver's JSON format (Griggs et al.,
// 2024; tests/testdata/data/fleet-instances/README.md) into a core::FleetProblem with one
// bucketed demand. GPU types named like "A100-MIG-3g" are MIG slices; they are planned either
// as the file intends (bought one at a time, `kFreeSlices`) or carved from physical
// "A100-80GB" GPUs with valid layouts (`kPhysicalMig`, the 80GB profiles 1g.10gb, 2g.20gb,
// 3g.40gb and so on).
#ifndef GPUFIT_TESTS_SUPPORT_MELANGE_INSTANCE_H_
#define GPUFIT_TESTS_SUPPORT_MELANGE_INSTANCE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/fleet_problem.h"

namespace gpufit::melange {

enum class MigMode { kFreeSlices, kPhysicalMig, kNoMig };

// `text` is the JSON document; `filename` is used in error messages.
absl::StatusOr<core::FleetProblem> ParseMelangeInstance(std::string_view text,
                                                        std::string_view filename, MigMode mode);

}  // namespace gpufit::melange

#endif  // GPUFIT_TESTS_SUPPORT_MELANGE_INSTANCE_H_

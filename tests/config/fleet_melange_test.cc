// The Mélange bucketed instances in ../shared/data/fleet-instances: the plan never costs
// more than the heuristic warm start, buying MIG slices freely is never dearer than carving
// them from physical A100s, and every physical layout is a valid MIG geometry.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "config/melange_instance.h"
#include "config/yaml_reader.h"
#include "core/fleet_solver.h"
#include "core/mig_checker.h"
#include "gtest/gtest.h"

namespace gpufit {
namespace {

std::vector<std::string> InstanceFiles() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(GPUFIT_SHARED_DIR) +
                                                           "/data/fleet-instances")) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

core::FleetProblem Load(const std::string& path, config::MigMode mode) {
  absl::StatusOr<std::string> text = config::internal::ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  absl::StatusOr<core::FleetProblem> pr = config::ParseMelangeInstance(*text, path, mode);
  EXPECT_TRUE(pr.ok()) << pr.status();
  return *pr;
}

void ExpectValidLayouts(const core::FleetProblem& pr, const core::FleetSolution& s) {
  for (size_t t = 0; t < pr.gpu_types.size(); ++t) {
    const core::FleetGpuType& type = pr.gpu_types[t];
    for (size_t k = 0; k < type.patterns.size(); ++k) {
      if (s.pattern_counts[t][k] == 0) continue;
      std::vector<std::pair<std::string, int>> layout;
      for (const core::MigPlacement& p : type.patterns[k].placements) {
        layout.emplace_back(type.mig_profiles[p.profile].name, p.start);
      }
      EXPECT_EQ(testing::CheckMigLayout(layout), "") << type.patterns[k].name;
    }
  }
}

TEST(FleetMelangeTest, EveryInstanceFreeAndPhysical) {
  const std::vector<std::string> files = InstanceFiles();
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) {
    const bool mig = f.find("mig7") != std::string::npos;
    core::FleetSolveOptions options;
    options.time_limit_seconds = 1.0;
    const core::FleetProblem free_pr = Load(f, config::MigMode::kFreeSlices);
    const core::FleetSolution free_s = core::SolveFleet(free_pr, options);
    ASSERT_TRUE(free_s.feasible) << f;
    EXPECT_LE(free_s.cost_usd_per_hour, free_s.heuristic_cost_usd_per_hour + 1e-9) << f;
    std::printf("%-36s free     $%8.3f/h bound %8.3f gap %5.2f%% %-11s %.3fs (heuristic $%.3f)\n",
                std::filesystem::path(f).filename().c_str(), free_s.cost_usd_per_hour,
                free_s.lower_bound_usd_per_hour, 100 * free_s.gap, free_s.method.c_str(),
                free_s.solve_seconds, free_s.heuristic_cost_usd_per_hour);
    if (!mig) continue;
    const core::FleetProblem phys_pr = Load(f, config::MigMode::kPhysicalMig);
    const core::FleetSolution phys_s = core::SolveFleet(phys_pr, options);
    ASSERT_TRUE(phys_s.feasible) << f;
    EXPECT_LE(phys_s.cost_usd_per_hour, phys_s.heuristic_cost_usd_per_hour + 1e-9) << f;
    // Buying slices freely relaxes the physical problem: its bound cannot exceed a physical plan.
    EXPECT_LE(free_s.lower_bound_usd_per_hour, phys_s.cost_usd_per_hour + 1e-6) << f;
    ExpectValidLayouts(phys_pr, phys_s);
    std::printf("%-36s physical $%8.3f/h bound %8.3f gap %5.2f%% %-11s %.3fs (heuristic $%.3f)\n",
                std::filesystem::path(f).filename().c_str(), phys_s.cost_usd_per_hour,
                phys_s.lower_bound_usd_per_hour, 100 * phys_s.gap, phys_s.method.c_str(),
                phys_s.solve_seconds, phys_s.heuristic_cost_usd_per_hour);
  }
}

}  // namespace
}  // namespace gpufit

// The Mélange bucketed instances in tests/testdata/data/fleet-instances (4x4, 8x8) and synthetic
// 12x12 ones (config/melange_generator.h): every plan is checked independently of the solver
// (each bucket's slices all placed, replicas carrying their load, MIG instances supplied by
// valid layouts, cost recomputed), never costs less than its proven bound nor more than the
// heuristic warm start, and buying MIG slices freely is never dearer than carving them from
// physical A100s. Correctness only: the 1 s / 1% performance goal is bench/fleet_bench's.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "config/yaml_reader.h"
#include "core/fleet_solver.h"
#include "core/mig_checker.h"
#include "gtest/gtest.h"
#include "support/melange/melange_generator.h"
#include "support/melange/melange_instance.h"

namespace gpufit {
namespace {

// (name, JSON text): the shared files, then the synthetic 12x12 set.
std::vector<std::pair<std::string, std::string>> Instances() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(GPUFIT_SHARED_DIR) +
                                                           "/data/fleet-instances")) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& f : files) {
    absl::StatusOr<std::string> text = config::internal::ReadFileToString(f);
    EXPECT_TRUE(text.ok()) << text.status();
    if (text.ok()) out.emplace_back(std::filesystem::path(f).filename().string(), *text);
  }
  for (bool mig : {false, true}) {
    for (double rate : {4.0, 32.0, 256.0}) {
      for (int sf : {4, 8}) {
        melange::MelangeInstanceSpec spec;
        spec.buckets = 12;
        spec.mig = mig;
        spec.requests_per_second = rate;
        spec.slice_factor = sf;
        out.emplace_back(melange::MelangeInstanceName(spec),
                         melange::GenerateMelangeInstance(spec));
      }
    }
  }
  return out;
}

core::FleetProblem Load(const std::string& name, const std::string& text, melange::MigMode mode) {
  absl::StatusOr<core::FleetProblem> pr = melange::ParseMelangeInstance(text, name, mode);
  EXPECT_TRUE(pr.ok()) << pr.status();
  return pr.ok() ? *pr : core::FleetProblem{};
}

// Checks `s` against `pr` without the solver's helpers: every bucket's slice_factor slices
// placed on resources that can serve it, replicas carrying the load, MIG instances within
// what the chosen layouts (each valid per the NVIDIA table) supply, and the cost.
void ExpectValidPlan(const core::FleetProblem& pr, const core::FleetSolution& s,
                     const std::string& what) {
  const size_t nt = pr.gpu_types.size();
  std::vector<int> whole(nt, 0);
  std::vector<std::vector<int>> instances(nt);
  for (size_t t = 0; t < nt; ++t) instances[t].assign(pr.gpu_types[t].mig_profiles.size(), 0);
  ASSERT_EQ(s.bucket_slices.size(), pr.demands.size()) << what;
  for (size_t d = 0; d < pr.demands.size(); ++d) {
    const core::FleetDemand& dem = pr.demands[d];
    std::vector<double> load(dem.bucket_choices.size(), 0);
    for (size_t b = 0; b < dem.buckets.size(); ++b) {
      int placed = 0;
      for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
        const int n = s.bucket_slices[d][b][r];
        ASSERT_GE(n, 0) << what;
        if (n == 0) continue;
        ASSERT_GT(dem.buckets[b].capacity[r], 0)
            << what << ": bucket on a resource without capacity";
        placed += n;
        load[r] += n * dem.buckets[b].requests_per_second / dem.slice_factor * (1 + dem.headroom) /
                   dem.buckets[b].capacity[r];
      }
      EXPECT_EQ(placed, dem.slice_factor) << what << " bucket " << b;
    }
    for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
      const int replicas = s.bucket_replicas[d][r];
      EXPECT_GE(replicas + 1e-6, load[r]) << what << ": replicas do not carry the load";
      const core::FleetResource& res = pr.resources[dem.bucket_choices[r].resource];
      if (res.profile < 0) {
        whole[res.gpu_type] += replicas * dem.bucket_choices[r].gpus_per_replica;
      } else {
        instances[res.gpu_type][res.profile] += replicas;
      }
    }
  }
  double cost = 0;
  for (size_t t = 0; t < nt; ++t) {
    const core::FleetGpuType& type = pr.gpu_types[t];
    std::vector<int> supplied(type.mig_profiles.size(), 0);
    int gpus = whole[t];
    for (size_t k = 0; k < type.patterns.size(); ++k) {
      const int count = s.pattern_counts[t][k];
      if (count == 0) continue;
      gpus += count;
      std::vector<std::pair<std::string, int>> layout;
      for (const core::MigPlacement& p : type.patterns[k].placements) {
        layout.emplace_back(type.mig_profiles[p.profile].name, p.start);
        supplied[p.profile] += count;
      }
      EXPECT_EQ(testing::CheckMigLayout(layout), "") << what << " " << type.patterns[k].name;
    }
    for (size_t p = 0; p < supplied.size(); ++p) {
      EXPECT_GE(supplied[p], instances[t][p]) << what << ": MIG instances without a GPU";
    }
    cost += type.price_usd_per_hour * std::max(0, gpus - type.owned);
  }
  EXPECT_NEAR(cost, s.cost_usd_per_hour, 1e-6) << what;
}

TEST(FleetMelangeTest, EveryInstanceFreeAndPhysical) {
  const std::vector<std::pair<std::string, std::string>> instances = Instances();
  ASSERT_GE(instances.size(), 24u + 12u);
  for (const auto& [name, text] : instances) {
    const bool mig = name.find("mig7") != std::string::npos;
    core::FleetSolveOptions options;
    options.time_limit_seconds = 1.0;
    const core::FleetProblem free_pr = Load(name, text, melange::MigMode::kFreeSlices);
    const core::FleetSolution free_s = core::SolveFleet(free_pr, options);
    ASSERT_TRUE(free_s.feasible) << name;
    ExpectValidPlan(free_pr, free_s, name + " free");
    EXPECT_LE(free_s.cost_usd_per_hour, free_s.heuristic_cost_usd_per_hour + 1e-9) << name;
    EXPECT_LE(free_s.lower_bound_usd_per_hour, free_s.cost_usd_per_hour + 1e-9) << name;
    EXPECT_GT(free_s.lower_bound_usd_per_hour, 0) << name;
    std::printf("%-36s free     $%8.3f/h bound %8.3f gap %5.2f%% %-11s %.3fs (heuristic $%.3f)\n",
                name.c_str(), free_s.cost_usd_per_hour, free_s.lower_bound_usd_per_hour,
                100 * free_s.gap, free_s.method.c_str(), free_s.solve_seconds,
                free_s.heuristic_cost_usd_per_hour);
    if (!mig) continue;
    const core::FleetProblem phys_pr = Load(name, text, melange::MigMode::kPhysicalMig);
    const core::FleetSolution phys_s = core::SolveFleet(phys_pr, options);
    ASSERT_TRUE(phys_s.feasible) << name;
    ExpectValidPlan(phys_pr, phys_s, name + " physical");
    EXPECT_LE(phys_s.cost_usd_per_hour, phys_s.heuristic_cost_usd_per_hour + 1e-9) << name;
    EXPECT_LE(phys_s.lower_bound_usd_per_hour, phys_s.cost_usd_per_hour + 1e-9) << name;
    // Buying slices freely relaxes the physical problem: its bound cannot exceed a physical plan.
    EXPECT_LE(free_s.lower_bound_usd_per_hour, phys_s.cost_usd_per_hour + 1e-6) << name;
    std::printf("%-36s physical $%8.3f/h bound %8.3f gap %5.2f%% %-11s %.3fs (heuristic $%.3f)\n",
                name.c_str(), phys_s.cost_usd_per_hour, phys_s.lower_bound_usd_per_hour,
                100 * phys_s.gap, phys_s.method.c_str(), phys_s.solve_seconds,
                phys_s.heuristic_cost_usd_per_hour);
  }
}

}  // namespace
}  // namespace gpufit

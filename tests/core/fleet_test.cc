// Fleet planning core: MIG geometry against an independent placement table, and exact MIP
// results on small fleets against exhaustive search.
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "core/fleet_mig.h"
#include "core/fleet_solver.h"
#include "core/mig_checker.h"
#include "gtest/gtest.h"

namespace gpufit::core {
namespace {

std::vector<MigProfile> A100Profiles() {
  return {{"1g.10gb", 1, 1, 7}, {"1g.20gb", 1, 2, 4}, {"2g.20gb", 2, 2, 3},
          {"3g.40gb", 3, 4, 2}, {"4g.40gb", 4, 4, 1}, {"7g.80gb", 7, 8, 1}};
}

TEST(FleetMigTest, StartSlotsMatchNvidiaTable) {
  for (const MigProfile& p : A100Profiles()) {
    EXPECT_EQ(MigStartSlots(p), testing::A100Mig80Rules().at(p.name).starts) << p.name;
  }
}

TEST(FleetMigTest, PatternsAreValidMaximalAndIncludeKnownLayouts) {
  const std::vector<MigProfile> profiles = A100Profiles();
  const std::vector<MigPattern> patterns = EnumerateMigPatterns(profiles);
  ASSERT_FALSE(patterns.empty());
  std::vector<std::string> names;
  for (const MigPattern& pat : patterns) {
    std::vector<std::pair<std::string, int>> layout;
    std::vector<int> counts(profiles.size(), 0);
    for (const MigPlacement& p : pat.placements) {
      layout.emplace_back(profiles[p.profile].name, p.start);
      ++counts[p.profile];
    }
    EXPECT_EQ(testing::CheckMigLayout(layout), "") << pat.name;
    EXPECT_EQ(counts, pat.counts) << pat.name;
    // Maximal: adding any one instance makes it unplaceable.
    for (size_t p = 0; p < profiles.size(); ++p) {
      std::vector<int> more = pat.counts;
      ++more[p];
      EXPECT_FALSE(PlaceMigInstances(profiles, more, nullptr))
          << pat.name << " + " << profiles[p].name;
    }
    names.push_back(pat.name);
  }
  for (const char* expected : {"1x4g.40gb+1x3g.40gb", "7x1g.10gb", "1x7g.80gb",
                               "1x3g.40gb+1x2g.20gb+2x1g.10gb", "2x3g.40gb"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  // 2g.20gb cannot start at 6, so 3x2g.20gb leaves slot 6 for one 1g.10gb.
  EXPECT_TRUE(PlaceMigInstances(profiles, {1, 0, 3, 0, 0, 0}, nullptr));
  EXPECT_FALSE(PlaceMigInstances(profiles, {2, 0, 3, 0, 0, 0}, nullptr));
}

// Fewest physical GPUs holding `need` instances: exhaustive over valid per-GPU sub-layouts.
int MinGpus(const std::vector<MigProfile>& profiles, std::vector<int> need,
            std::map<std::vector<int>, int>& memo) {
  bool empty = true;
  for (int n : need) empty = empty && n == 0;
  if (empty) return 0;
  auto it = memo.find(need);
  if (it != memo.end()) return it->second;
  int best = 1 << 20;
  std::vector<int> take(profiles.size(), 0);
  std::function<void(size_t)> rec = [&](size_t p) {
    if (p == profiles.size()) {
      bool any = false;
      for (int t : take) any = any || t > 0;
      if (!any || !PlaceMigInstances(profiles, take, nullptr)) return;
      std::vector<int> rest = need;
      for (size_t i = 0; i < rest.size(); ++i) rest[i] -= take[i];
      best = std::min(best, 1 + MinGpus(profiles, rest, memo));
      return;
    }
    for (int t = 0; t <= need[p] && t <= 7; ++t) {
      take[p] = t;
      rec(p + 1);
    }
    take[p] = 0;
  };
  rec(0);
  memo[need] = best;
  return best;
}

TEST(FleetSolverTest, SmallFleetsMatchExhaustiveSearch) {
  std::mt19937 rng(7);
  const std::vector<MigProfile> profiles = {
      {"1g.10gb", 1, 1, 7}, {"2g.20gb", 2, 2, 3}, {"3g.40gb", 3, 4, 2}};
  for (int trial = 0; trial < 40; ++trial) {
    FleetProblem pr;
    FleetGpuType l4{"l4", 0.5, 0, -1, {}, {}};
    FleetGpuType a100{"a100", 1.79,     static_cast<int>(rng() % 2),
                      -1,     profiles, EnumerateMigPatterns(profiles)};
    pr.gpu_types = {l4, a100};
    pr.resources = {
        {0, -1, "l4"}, {1, -1, "a100"}, {1, 0, "a100/1g"}, {1, 1, "a100/2g"}, {1, 2, "a100/3g"}};
    const int demands = 3 + static_cast<int>(rng() % 3);
    for (int d = 0; d < demands; ++d) {
      FleetDemand dem;
      dem.name = "w" + std::to_string(d);
      for (int r = 0; r < 5; ++r) {
        if (rng() % 3 == 0) continue;
        dem.choices.push_back({r, 1, 1 + static_cast<int>(rng() % 3)});
      }
      if (dem.choices.empty()) dem.choices.push_back({2, 1, 1});
      pr.demands.push_back(dem);
    }
    // Exhaustive: every combination of choices, MIG instances packed optimally.
    double best = 1e18;
    std::map<std::vector<int>, int> memo;
    std::vector<int> pick(pr.demands.size(), 0);
    std::function<void(size_t)> rec = [&](size_t d) {
      if (d == pr.demands.size()) {
        int l4s = 0, a100s = 0;
        std::vector<int> inst(3, 0);
        for (size_t i = 0; i < pick.size(); ++i) {
          const FleetChoice& c = pr.demands[i].choices[pick[i]];
          if (c.resource == 0) l4s += c.replicas;
          if (c.resource == 1) a100s += c.replicas;
          if (c.resource >= 2) inst[c.resource - 2] += c.replicas;
        }
        a100s += MinGpus(profiles, inst, memo);
        best = std::min(best, 0.5 * l4s + 1.79 * std::max(0, a100s - pr.gpu_types[1].owned));
        return;
      }
      for (size_t c = 0; c < pr.demands[d].choices.size(); ++c) {
        pick[d] = static_cast<int>(c);
        rec(d + 1);
      }
    };
    rec(0);
    FleetSolveOptions options;
    options.relative_gap = 0;
    options.time_limit_seconds = 10;
    const FleetSolution s = SolveFleet(pr, options);
    ASSERT_TRUE(s.feasible) << trial;
    EXPECT_NEAR(s.cost_usd_per_hour, best, 1e-6) << "trial " << trial;
    EXPECT_TRUE(s.optimal) << trial;
    EXPECT_LE(s.cost_usd_per_hour, s.heuristic_cost_usd_per_hour + 1e-9);
    EXPECT_LE(s.lower_bound_usd_per_hour, s.cost_usd_per_hour + 1e-9);
  }
}

// Bucketed (Mélange) demands: the pooled-relaxation bound, the restricted search and the
// full MIP together must still find the exact optimum, checked against every slice
// assignment. Two shapes: MIG slices carved from a physical A100 (the family pooled by compute
// slices) and slices sold as separate types at k/7 of the price (pooled by price multiples).
TEST(FleetSolverTest, SmallBucketedFleetsMatchExhaustiveSearch) {
  std::mt19937 rng(11);
  const std::vector<MigProfile> profiles = {
      {"1g.10gb", 1, 1, 7}, {"2g.20gb", 2, 2, 3}, {"3g.40gb", 3, 4, 2}};
  std::map<std::vector<int>, int> memo;
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng() % 100000) / 100000.0;
  };
  for (int trial = 0; trial < 24; ++trial) {
    const bool physical = trial % 2 == 0;
    const double a100_price = 3.67;
    FleetProblem pr;
    // Capacity per replica: L4, A100, then 1g/2g/3g at about k/7 of the A100 (rounded, so
    // near-ties rather than exact ones, as in the Mélange files).
    const int nb = 3;
    const int sf = 2;
    std::vector<std::vector<double>> cap(nb);
    for (int b = 0; b < nb; ++b) {
      const double a100 = uniform(1.5, 6);
      cap[b] = {uniform(0.1, 1.5), a100};
      for (int k : {1, 2, 3}) cap[b].push_back(std::round(a100 * k / 7 * 100) / 100);
    }
    if (physical) {
      pr.gpu_types = {{"l4", 0.7, 0, -1, {}, {}},
                      {"a100", a100_price, 0, -1, profiles, EnumerateMigPatterns(profiles)}};
      pr.resources = {{0, -1, "l4"}, {1, -1, "a100"}, {1, 0, "1g"}, {1, 1, "2g"}, {1, 2, "3g"}};
    } else {
      pr.gpu_types = {{"l4", 0.7, 0, -1, {}, {}}, {"a100", a100_price, 0, -1, {}, {}}};
      for (int k : {1, 2, 3}) {
        pr.gpu_types.push_back(
            {"mig" + std::to_string(k), std::round(a100_price * k / 7 * 1e4) / 1e4, 0, -1, {}, {}});
      }
      pr.resources = {{0, -1, "l4"}, {1, -1, "a100"}, {2, -1, "1g"}, {3, -1, "2g"}, {4, -1, "3g"}};
    }
    FleetDemand dem;
    dem.name = "bucketed";
    dem.slice_factor = sf;
    for (int r = 0; r < 5; ++r) dem.bucket_choices.push_back({r, 1, 0});
    for (int b = 0; b < nb; ++b) {
      FleetBucket bucket;
      bucket.name = "b" + std::to_string(b);
      bucket.requests_per_second = uniform(0.2, 3);
      bucket.capacity = cap[b];
      dem.buckets.push_back(bucket);
    }
    pr.demands = {dem};
    // Exhaustive: every way of placing each bucket's slices on the five resources.
    double best = 1e18;
    std::vector<std::vector<int>> slices(nb, std::vector<int>(5, 0));
    std::function<void(int, int, int)> rec = [&](int b, int r, int left) {
      if (b == nb) {
        std::vector<int> replicas(5, 0);
        for (int q = 0; q < 5; ++q) {
          double load = 0;
          for (int i = 0; i < nb; ++i) {
            load += slices[i][q] * dem.buckets[i].requests_per_second / sf / cap[i][q];
          }
          replicas[q] = static_cast<int>(std::ceil(load - 1e-7));
        }
        double cost = 0.7 * replicas[0];
        if (physical) {
          cost += a100_price *
                  (replicas[1] + MinGpus(profiles, {replicas[2], replicas[3], replicas[4]}, memo));
        } else {
          for (int q = 1; q < 5; ++q) cost += pr.gpu_types[q].price_usd_per_hour * replicas[q];
        }
        best = std::min(best, cost);
        return;
      }
      if (r == 4) {
        slices[b][r] = left;
        rec(b + 1, 0, sf);
        slices[b][r] = 0;
        return;
      }
      for (int n = 0; n <= left; ++n) {
        slices[b][r] = n;
        rec(b, r + 1, left - n);
      }
      slices[b][r] = 0;
    };
    rec(0, 0, sf);
    FleetSolveOptions options;
    options.relative_gap = 0;
    options.time_limit_seconds = 20;
    const FleetSolution s = SolveFleet(pr, options);
    ASSERT_TRUE(s.feasible) << trial;
    EXPECT_NEAR(s.cost_usd_per_hour, best, 1e-6) << "trial " << trial;
    EXPECT_LE(s.lower_bound_usd_per_hour, best + 1e-6) << "trial " << trial;
    EXPECT_TRUE(s.optimal) << trial;
  }
}

TEST(FleetSolverTest, OwnedGpusAndLimits) {
  FleetProblem pr;
  pr.gpu_types = {{"l4", 0.5, 0, 1, {}, {}}, {"a100", 1.79, 1, -1, {}, {}}};
  pr.resources = {{0, -1, "l4"}, {1, -1, "a100"}};
  FleetDemand a{"a", {{0, 1, 1}, {1, 1, 1}}, {}, {}, 1, 0};
  FleetDemand b{"b", {{0, 1, 1}, {1, 1, 1}}, {}, {}, 1, 0};
  FleetDemand c{"c", {{0, 1, 1}, {1, 1, 1}}, {}, {}, 1, 0};
  pr.demands = {a, b, c};
  FleetSolveOptions options;
  options.relative_gap = 0;
  const FleetSolution s = SolveFleet(pr, options);
  ASSERT_TRUE(s.feasible);
  // One owned A100 (free), one L4 (limit 1), one more A100 bought.
  EXPECT_NEAR(s.cost_usd_per_hour, 0.5 + 1.79, 1e-9);
  EXPECT_EQ(s.Gpus(0), 1);
  EXPECT_EQ(s.Gpus(1), 2);
}

}  // namespace
}  // namespace gpufit::core

// Fleet planning core: MIG geometry against an independent placement table, exact MIP
// results on small fleets against exhaustive search, size limits, and stopping (deadline,
// cancellation from another thread) with the best plan so far.
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "core/fleet_mig.h"
#include "core/fleet_planner.h"
#include "core/fleet_solver.h"
#include "core/limits.h"
#include "core/mig_checker.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "core/test_catalog.h"
#include "gmock/gmock.h"
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

// A bucketed fleet CBC cannot close to a zero gap for a long time: many request-size buckets
// whose capacities on the A100's MIG slices nearly tie with the whole GPU (as in Mélange).
FleetProblem HardBucketedProblem(int buckets, int slice_factor) {
  std::mt19937 rng(5);
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng() % 100000) / 100000.0;
  };
  const std::vector<MigProfile> profiles = {
      {"1g.10gb", 1, 1, 7}, {"2g.20gb", 2, 2, 3}, {"3g.40gb", 3, 4, 2}};
  FleetProblem pr;
  pr.gpu_types = {{"l4", 0.7, 0, -1, {}, {}},
                  {"a100", 3.67, 0, -1, profiles, EnumerateMigPatterns(profiles)}};
  pr.resources = {{0, -1, "l4"}, {1, -1, "a100"}, {1, 0, "1g"}, {1, 1, "2g"}, {1, 2, "3g"}};
  FleetDemand dem;
  dem.name = "bucketed";
  dem.slice_factor = slice_factor;
  for (int r = 0; r < 5; ++r) dem.bucket_choices.push_back({r, 1, 0});
  for (int b = 0; b < buckets; ++b) {
    const double a100 = uniform(1.5, 6);
    FleetBucket bucket;
    bucket.name = "b" + std::to_string(b);
    bucket.requests_per_second = uniform(0.5, 9);
    bucket.capacity = {uniform(0.1, 1.5), a100};
    for (int k : {1, 2, 3}) bucket.capacity.push_back(std::round(a100 * k / 7 * 100) / 100);
    dem.buckets.push_back(bucket);
  }
  pr.demands = {dem, dem};
  pr.demands[1].name = "bucketed-2";
  return pr;
}

// Cancellation reaches the core: another thread flips the caller's flag while SolveFleet works
// on a problem it would take its whole minute over, and the solve returns its best plan so
// far, marked cancelled, instead of running to its time limit.
TEST(FleetSolverTest, CancelFromAnotherThreadReturnsTheBestPlanSoFar) {
  const FleetProblem pr = HardBucketedProblem(48, 8);
  for (const bool driver : {true, false}) {
    FleetSolveOptions options;
    options.relative_gap = 0;
    options.time_limit_seconds = 60;
    options.cbc_driver = driver;
    std::atomic<bool> cancelled{false};
    const FleetStop stop(FleetStop::Clock::time_point::max(), [&] { return cancelled.load(); });
    auto solve = std::async(std::launch::async, [&] { return SolveFleet(pr, options, stop); });
    // Cancel once the solve is well under way (it needs far longer than this to finish).
    EXPECT_EQ(solve.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
        << "solved before it could be cancelled; make the problem harder";
    cancelled = true;
    // A bound that fails only if the cancellation is ignored: half the time limit.
    ASSERT_EQ(solve.wait_for(std::chrono::seconds(30)), std::future_status::ready) << driver;
    const FleetSolution s = solve.get();
    EXPECT_TRUE(s.cancelled) << driver;
    EXPECT_TRUE(s.time_limit_reached) << driver;
    EXPECT_FALSE(s.optimal) << driver;
    // The best plan so far: at least the heuristic's, complete and consistent.
    ASSERT_TRUE(s.feasible) << driver;
    EXPECT_LE(s.cost_usd_per_hour, s.heuristic_cost_usd_per_hour + 1e-9) << driver;
    EXPECT_NEAR(FleetCost(pr, s), s.cost_usd_per_hour, 1e-9) << driver;
    for (size_t d = 0; d < pr.demands.size(); ++d) {
      for (size_t b = 0; b < pr.demands[d].buckets.size(); ++b) {
        int slices = 0;
        for (int n : s.bucket_slices[d][b]) slices += n;
        EXPECT_EQ(slices, pr.demands[d].slice_factor) << driver << " " << d << " " << b;
      }
    }
  }
}

// The caller's deadline cuts a solve short the same way, with the best plan so far.
TEST(FleetSolverTest, DeadlineEndsTheSolveWithTheBestPlanSoFar) {
  const FleetProblem pr = HardBucketedProblem(48, 8);
  FleetSolveOptions options;
  options.relative_gap = 0;
  options.time_limit_seconds = 60;
  options.cbc_driver = false;
  const FleetStop stop(FleetStop::Clock::now() + std::chrono::milliseconds(500), nullptr);
  const FleetSolution s = SolveFleet(pr, options, stop);
  EXPECT_TRUE(s.feasible);
  EXPECT_TRUE(s.time_limit_reached);
  EXPECT_FALSE(s.cancelled);
  EXPECT_LT(s.solve_seconds, 30);  // fails only if the deadline is ignored
}

// CBC without its driver keeps no process-wide state: solves on two threads at once give the
// answers they give one after the other.
TEST(FleetSolverTest, SolvesWithoutTheDriverRunConcurrently) {
  std::vector<FleetProblem> problems;
  for (int i = 0; i < 4; ++i) problems.push_back(HardBucketedProblem(3 + i, 2));
  FleetSolveOptions options;
  options.relative_gap = 0;
  options.time_limit_seconds = 30;
  options.cbc_driver = false;
  std::vector<double> alone;
  for (const FleetProblem& pr : problems) {
    const FleetSolution s = SolveFleet(pr, options);
    ASSERT_TRUE(s.optimal);
    alone.push_back(s.cost_usd_per_hour);
  }
  std::vector<std::future<FleetSolution>> together;
  for (const FleetProblem& pr : problems) {
    together.push_back(std::async(std::launch::async, [&] { return SolveFleet(pr, options); }));
  }
  for (size_t i = 0; i < problems.size(); ++i) {
    const FleetSolution s = together[i].get();
    EXPECT_TRUE(s.optimal) << i;
    EXPECT_NEAR(s.cost_usd_per_hour, alone[i], 1e-9) << i;
  }
}

FleetRequest ChatFleet(int workloads) {
  FleetRequest req;
  for (int i = 0; i < workloads; ++i) {
    Workload w = testing::ChatWorkload(1 + (i * 13) % 60);
    w.name = "chat-" + std::to_string(i);
    w.traffic.output_tokens = 64 << (i % 4);
    req.workloads.push_back({w, std::nullopt});
  }
  req.solve.relative_gap = 0;
  req.solve.time_limit_seconds = 30;
  return req;
}

// Dropping dominated choices keeps the optimum: the same fleets with every feasible option of
// core::Place as a choice (as before the pruning) cost the same.
TEST(FleetPlannerTest, DominatedChoicesArePrunedWithoutChangingTheOptimum) {
  const Catalog catalog = testing::TestCatalog();
  for (int workloads : {3, 6, 9}) {
    const FleetRequest req = ChatFleet(workloads);
    absl::StatusOr<FleetProblem> pruned = BuildFleetProblem(req, catalog);
    ASSERT_TRUE(pruned.ok()) << pruned.status();
    FleetProblem full = *pruned;
    size_t kept = 0, all = 0;
    for (size_t d = 0; d < full.demands.size(); ++d) {
      kept += full.demands[d].choices.size();
      full.demands[d].choices.clear();
      const ResolvedWorkload w = ResolveWorkload(req.workloads[d].workload, catalog).value();
      for (const Option& o : Place(w, catalog).options) {
        if (!o.feasible) continue;
        for (size_t r = 0; r < full.resources.size(); ++r) {
          if (full.resources[r].accelerator == o.accelerator->id) {
            full.demands[d].choices.push_back(
                {static_cast<int>(r), o.gpus_per_replica, o.replicas});
          }
        }
      }
      all += full.demands[d].choices.size();
    }
    EXPECT_LT(kept, all) << workloads;  // something was pruned
    FleetSolveOptions options;
    options.relative_gap = 0;
    options.time_limit_seconds = 30;
    const FleetSolution a = SolveFleet(*pruned, options);
    const FleetSolution b = SolveFleet(full, options);
    ASSERT_TRUE(a.optimal && b.optimal) << workloads;
    EXPECT_NEAR(a.cost_usd_per_hour, b.cost_usd_per_hour, 1e-9) << workloads;
  }
}

// Each size bound of core/limits.h, named in the error, before anything is placed.
TEST(FleetPlannerTest, SizeLimitsNameTheField) {
  const Catalog catalog = testing::TestCatalog();  // L4 and A100 with 4 MIG profiles: 6 each
  struct Case {
    std::string message;
    std::function<void(FleetRequest&)> mutate;
  };
  const BucketedTraffic buckets{10, std::vector<TrafficBucket>(32, {512, 256, 1}), 4};
  const std::vector<Case> cases = {
      {"workloads: at most 1000 (got 1001)",
       [](FleetRequest& r) { r = ChatFleet(kMaxFleetWorkloads + 1); }},
      {"workloads[0].buckets.distribution: at most 256 (got 257)",
       [](FleetRequest& r) {
         r.workloads[0].buckets =
             BucketedTraffic{10, std::vector<TrafficBucket>(257, {512, 256, 1}), 4};
       }},
      {"workloads[0].buckets.slice_factor: must be in 1..64 (got 65)",
       [&](FleetRequest& r) {
         r.workloads[0].buckets = buckets;
         r.workloads[0].buckets->slice_factor = 65;
       }},
      {"accelerators: at most 64 (got 65)",
       [](FleetRequest& r) { r.accelerators.assign(kMaxFleetGpuTypes + 1, "l4"); }},
      {"gpus: at most 64 (got 65)",
       [](FleetRequest& r) {
         r.gpus.assign(kMaxFleetGpuTypes + 1, {"l4", -1, 0, -1});
       }},
      {"measured: at most 10000 (got 10001)",
       [](FleetRequest& r) {
         r.measured.assign(kMaxMeasuredCapacities + 1, {"chat-0", -1, "l4", 0, 1, 0, ""});
       }},
      // 1000 x 32 buckets x 6 GPUs and profiles.
      {"workloads: too large to plan in one solve: 192000 cells",
       [&](FleetRequest& r) {
         r = ChatFleet(kMaxFleetWorkloads);
         for (FleetWorkload& w : r.workloads) w.buckets = buckets;
       }},
      // 6 x 256 buckets x 6.
      {"workloads: too many traffic buckets to plan in one solve: 9216 bucket cells",
       [](FleetRequest& r) {
         r = ChatFleet(6);
         for (FleetWorkload& w : r.workloads) {
           w.buckets = BucketedTraffic{10, std::vector<TrafficBucket>(256, {512, 256, 1}), 4};
         }
       }},
  };
  for (const Case& c : cases) {
    FleetRequest req = ChatFleet(2);
    c.mutate(req);
    const absl::StatusOr<FleetPlan> plan = PlanFleet(req, catalog);
    ASSERT_FALSE(plan.ok()) << c.message;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(plan.status().message()), ::testing::StartsWith(c.message));
  }
  // At the bounds: 1000 plain workloads (6,000 cells) plan.
  const absl::StatusOr<FleetPlan> plan = PlanFleet(ChatFleet(kMaxFleetWorkloads), catalog);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->workloads.size(), static_cast<size_t>(kMaxFleetWorkloads));
}

// PlanFleet's time limit covers the whole call: with no time for the plan's search (a
// deadline already past when the solve starts) there is no plan, and the error says so.
TEST(FleetPlannerTest, PastDeadlineIsDeadlineExceededOrCancelled) {
  const Catalog catalog = testing::TestCatalog();
  const FleetStop expired(FleetStop::Clock::now(), nullptr);
  absl::StatusOr<FleetPlan> plan = PlanFleet(ChatFleet(3), catalog, expired);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kDeadlineExceeded) << plan.status();
  EXPECT_THAT(std::string(plan.status().message()),
              ::testing::StartsWith("solver.time_limit_seconds: "));
  const FleetStop cancelled(FleetStop::Clock::time_point::max(), [] { return true; });
  plan = PlanFleet(ChatFleet(3), catalog, cancelled);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kCancelled) << plan.status();
}

}  // namespace
}  // namespace gpufit::core

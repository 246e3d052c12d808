#include "core/fleet_solver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "CbcEventHandler.hpp"
#include "CbcHeuristic.hpp"
#include "CbcModel.hpp"
#include "CbcSolver.hpp"
#include "CglKnapsackCover.hpp"
#include "CglMixedIntegerRounding2.hpp"
#include "CglProbing.hpp"
#include "ClpEventHandler.hpp"
#include "ClpSimplex.hpp"
#include "ClpSolve.hpp"
#include "CoinMessageHandler.hpp"
#include "CoinPackedMatrix.hpp"
#include "CoinPackedVector.hpp"
#include "OsiClpSolverInterface.hpp"
#include "absl/strings/str_cat.h"
#include "core/fleet_stop.h"

namespace gpufit::core {
namespace {

constexpr double kEps = 1e-9;
constexpr int kMemorySlots = 8;
constexpr int kComputeSlices = 7;

// Share of its GPU that one instance blocks (the larger of compute n/7 and memory m/8); the
// heuristic prices an instance at this share, as MakeMigSlice does.
double Share(const MigProfile& p) {
  return std::max(p.compute_slices / 7.0, p.memory_slices / 8.0);
}

double ResourcePrice(const FleetProblem& pr, int r) {
  const FleetResource& res = pr.resources[r];
  const FleetGpuType& t = pr.gpu_types[res.gpu_type];
  return res.profile < 0 ? t.price_usd_per_hour
                         : t.price_usd_per_hour * Share(t.mig_profiles[res.profile]);
}

// Replicas a bucketed demand needs on bucket_choices[r] for the slices assigned.
int Replicas(const FleetDemand& d, const std::vector<std::vector<int>>& slices, size_t r) {
  double load = 0;
  for (size_t b = 0; b < d.buckets.size(); ++b) {
    if (slices[b][r] == 0) continue;
    load += slices[b][r] * d.buckets[b].requests_per_second / d.slice_factor * (1 + d.headroom) /
            d.buckets[b].capacity[r];
  }
  return static_cast<int>(std::ceil(load - 1e-7));
}

double Load(const FleetDemand& d, size_t b, size_t r) {
  return d.buckets[b].requests_per_second / d.slice_factor * (1 + d.headroom) /
         d.buckets[b].capacity[r];
}

// Physical GPUs (patterns) holding the MIG instances the solution uses, by first-fit
// decreasing: largest instances first, each on the first GPU with a free legal start.
void PackMig(const FleetProblem& pr, FleetSolution& s) {
  const size_t types = pr.gpu_types.size();
  std::vector<std::vector<int>> instances(types);
  for (size_t t = 0; t < types; ++t) instances[t].assign(pr.gpu_types[t].mig_profiles.size(), 0);
  for (size_t d = 0; d < pr.demands.size(); ++d) {
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) {
      const FleetChoice& c = dem.choices[s.choice[d]];
      const FleetResource& res = pr.resources[c.resource];
      if (res.profile >= 0) instances[res.gpu_type][res.profile] += c.replicas;
      continue;
    }
    for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
      const FleetResource& res = pr.resources[dem.bucket_choices[r].resource];
      if (res.profile >= 0) instances[res.gpu_type][res.profile] += s.bucket_replicas[d][r];
    }
  }
  s.pattern_counts.assign(types, {});
  for (size_t t = 0; t < types; ++t) {
    const FleetGpuType& type = pr.gpu_types[t];
    s.pattern_counts[t].assign(type.patterns.size(), 0);
    const size_t np = type.mig_profiles.size();
    std::vector<int> order(np);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return std::make_pair(type.mig_profiles[a].memory_slices,
                            type.mig_profiles[a].compute_slices) >
             std::make_pair(type.mig_profiles[b].memory_slices,
                            type.mig_profiles[b].compute_slices);
    });
    struct Gpu {
      unsigned used = 0;
      int compute = 0;
      std::vector<int> counts;
    };
    std::vector<Gpu> gpus;
    for (int p : order) {
      const MigProfile& prof = type.mig_profiles[p];
      const std::vector<int> starts = MigStartSlots(prof);
      const unsigned base = (1u << prof.memory_slices) - 1u;
      for (int i = 0; i < instances[t][p]; ++i) {
        bool placed = false;
        for (Gpu& g : gpus) {
          if (g.compute + prof.compute_slices > kComputeSlices) continue;
          for (int st : starts) {
            if ((g.used & (base << st)) != 0) continue;
            g.used |= base << st;
            g.compute += prof.compute_slices;
            ++g.counts[p];
            placed = true;
            break;
          }
          if (placed) break;
        }
        if (!placed) {
          Gpu g;
          g.counts.assign(np, 0);
          g.used = base << starts.front();
          g.compute = prof.compute_slices;
          g.counts[p] = 1;
          gpus.push_back(std::move(g));
        }
      }
    }
    for (const Gpu& g : gpus) {
      for (size_t k = 0; k < type.patterns.size(); ++k) {
        bool contains = true;
        for (size_t p = 0; p < np; ++p)
          contains = contains && type.patterns[k].counts[p] >= g.counts[p];
        if (contains) {
          ++s.pattern_counts[t][k];
          break;
        }
      }
    }
  }
  static_cast<void>(kMemorySlots);
}

void CountWhole(const FleetProblem& pr, FleetSolution& s) {
  s.whole_gpus.assign(pr.gpu_types.size(), 0);
  for (size_t d = 0; d < pr.demands.size(); ++d) {
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) {
      const FleetChoice& c = dem.choices[s.choice[d]];
      const FleetResource& res = pr.resources[c.resource];
      if (res.profile < 0) s.whole_gpus[res.gpu_type] += c.replicas * c.gpus_per_replica;
      continue;
    }
    for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
      const FleetChoice& c = dem.bucket_choices[r];
      const FleetResource& res = pr.resources[c.resource];
      if (res.profile < 0)
        s.whole_gpus[res.gpu_type] += s.bucket_replicas[d][r] * c.gpus_per_replica;
    }
  }
}

bool WithinLimits(const FleetProblem& pr, const FleetSolution& s) {
  for (size_t t = 0; t < pr.gpu_types.size(); ++t) {
    if (pr.gpu_types[t].max_count >= 0 && s.Gpus(static_cast<int>(t)) > pr.gpu_types[t].max_count) {
      return false;
    }
  }
  return true;
}

// Load (in replicas) that bucket choice r of `d` carries under `slices`.
double ChoiceLoad(const FleetDemand& d, const std::vector<std::vector<int>>& slices, size_t r) {
  double load = 0;
  for (size_t b = 0; b < d.buckets.size(); ++b) {
    if (slices[b][r] > 0) load += slices[b][r] * Load(d, b, r);
  }
  return load;
}

// Local search on a bucketed demand's slice assignment: replicas are whole, so most carry
// slack; move slices into other choices' slack when that frees a replica somewhere dearer.
// Each accepted move lowers Σ replicas x price per replica (MIG instances at their share of
// the GPU), so it terminates.
void FillSlack(const FleetProblem& pr, const FleetDemand& d, std::vector<std::vector<int>>& slices,
               const FleetStop& stop) {
  const size_t nr = d.bucket_choices.size();
  std::vector<double> unit(nr);
  for (size_t r = 0; r < nr; ++r) {
    unit[r] =
        ResourcePrice(pr, d.bucket_choices[r].resource) * d.bucket_choices[r].gpus_per_replica;
  }
  auto replicas = [](double load) { return std::ceil(load - 1e-7); };
  for (int round = 0; round < 64 && !stop.Expired(); ++round) {
    bool improved = false;
    std::vector<double> load(nr);
    for (size_t r = 0; r < nr; ++r) load[r] = ChoiceLoad(d, slices, r);
    // Dearest replicas first.
    std::vector<size_t> order(nr);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return unit[a] > unit[b]; });
    for (size_t r : order) {
      if (load[r] <= 1e-9) continue;
      const double target = replicas(load[r]) - 1;  // drop one replica of r
      std::vector<std::vector<int>> trial = slices;
      std::vector<double> tload = load;
      double added = 0;  // cost of replicas added elsewhere
      // Move r's slices, cheapest-to-place first, into the choice that absorbs each best.
      for (size_t b = 0; b < d.buckets.size() && tload[r] > target + 1e-7; ++b) {
        while (trial[b][r] > 0 && tload[r] > target + 1e-7) {
          size_t best = nr;
          double best_cost = std::numeric_limits<double>::infinity();
          for (size_t q = 0; q < nr; ++q) {
            if (q == r || d.buckets[b].capacity[q] <= 0) continue;
            const double extra =
                (replicas(tload[q] + Load(d, b, q)) - replicas(tload[q])) * unit[q];
            if (extra < best_cost) {
              best_cost = extra;
              best = q;
            }
          }
          if (best == nr) break;
          --trial[b][r];
          ++trial[b][best];
          tload[r] -= Load(d, b, r);
          tload[best] += Load(d, b, best);
          added += best_cost;
        }
      }
      const double saved = (replicas(load[r]) - replicas(std::max(0.0, tload[r]))) * unit[r];
      if (saved - added > 1e-9) {
        slices = std::move(trial);
        load = std::move(tload);
        improved = true;
      }
    }
    if (!improved) break;
  }
}

// Moves slices of demand `d` off choice `r` until its load fits `target` replicas, each slice
// to the choice where it adds least (price x extra replicas). False if some slice has nowhere
// else to go.
bool MoveOff(const FleetProblem& pr, const FleetDemand& d, std::vector<std::vector<int>>& slices,
             size_t r, double target) {
  const size_t nr = d.bucket_choices.size();
  std::vector<double> load(nr);
  for (size_t q = 0; q < nr; ++q) load[q] = ChoiceLoad(d, slices, q);
  auto replicas = [](double l) { return std::ceil(l - 1e-7); };
  // Largest slices first: fewest moves.
  std::vector<size_t> order(d.buckets.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return (slices[a][r] > 0 ? Load(d, a, r) : 0) > (slices[b][r] > 0 ? Load(d, b, r) : 0);
  });
  for (size_t b : order) {
    while (slices[b][r] > 0 && load[r] > target + 1e-7) {
      size_t best = nr;
      double best_cost = std::numeric_limits<double>::infinity();
      for (size_t q = 0; q < nr; ++q) {
        if (q == r || d.buckets[b].capacity[q] <= 0) continue;
        const double unit =
            ResourcePrice(pr, d.bucket_choices[q].resource) * d.bucket_choices[q].gpus_per_replica;
        const double extra = (replicas(load[q] + Load(d, b, q)) - replicas(load[q])) * unit;
        if (extra < best_cost) {
          best_cost = extra;
          best = q;
        }
      }
      if (best == nr) return false;
      --slices[b][r];
      ++slices[b][best];
      load[r] -= Load(d, b, r);
      load[best] += Load(d, b, best);
    }
  }
  return load[r] <= target + 1e-7;
}

}  // namespace

int FleetSolution::Gpus(int type) const {
  int n = whole_gpus.empty() ? 0 : whole_gpus[type];
  if (!pattern_counts.empty()) {
    for (int c : pattern_counts[type]) n += c;
  }
  return n;
}

double FleetCost(const FleetProblem& problem, const FleetSolution& s) {
  double cost = 0;
  for (size_t t = 0; t < problem.gpu_types.size(); ++t) {
    const FleetGpuType& type = problem.gpu_types[t];
    cost += type.price_usd_per_hour * std::max(0, s.Gpus(static_cast<int>(t)) - type.owned);
  }
  return cost;
}

FleetSolution SolveFleetHeuristic(const FleetProblem& pr, const FleetStop& stop) {
  const auto start = std::chrono::steady_clock::now();
  FleetSolution s;
  s.method = "heuristic";
  const size_t nd = pr.demands.size();
  s.choice.assign(nd, -1);
  s.bucket_slices.assign(nd, {});
  s.bucket_replicas.assign(nd, {});
  bool ok = true;
  // GPUs committed so far per type (MIG instances as their share of a GPU), for marginal
  // prices with owned GPUs and for limits.
  std::vector<double> used(pr.gpu_types.size(), 0.0);
  auto marginal = [&](int resource, double amount) {
    const FleetResource& res = pr.resources[resource];
    const FleetGpuType& t = pr.gpu_types[res.gpu_type];
    const double gpus = res.profile < 0 ? amount : amount * Share(t.mig_profiles[res.profile]);
    const double before = std::max(0.0, used[res.gpu_type] - t.owned);
    const double after = std::max(0.0, used[res.gpu_type] + gpus - t.owned);
    if (t.max_count >= 0 && std::ceil(used[res.gpu_type] + gpus - kEps) > t.max_count) {
      return std::numeric_limits<double>::infinity();
    }
    return t.price_usd_per_hour * (after - before) + 1e-9 * gpus;  // prefer fewer GPUs on ties
  };
  auto commit = [&](int resource, double amount) {
    const FleetResource& res = pr.resources[resource];
    const FleetGpuType& t = pr.gpu_types[res.gpu_type];
    used[res.gpu_type] += res.profile < 0 ? amount : amount * Share(t.mig_profiles[res.profile]);
  };
  // Larger demands first: they gain most from owned GPUs and hit limits first.
  std::vector<std::pair<double, size_t>> order;
  for (size_t d = 0; d < nd; ++d) {
    const FleetDemand& dem = pr.demands[d];
    double best = std::numeric_limits<double>::infinity();
    for (const FleetChoice& c : dem.choices) {
      best = std::min(best, ResourcePrice(pr, c.resource) * c.gpus_per_replica * c.replicas);
    }
    if (dem.bucketed()) best = 0;
    for (const FleetBucket& b : dem.buckets) {
      double unit = std::numeric_limits<double>::infinity();
      for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
        if (b.capacity[r] <= 0) continue;
        unit = std::min(unit, ResourcePrice(pr, dem.bucket_choices[r].resource) *
                                  dem.bucket_choices[r].gpus_per_replica / b.capacity[r]);
      }
      best += unit * b.requests_per_second;
    }
    order.emplace_back(-best, d);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [neg, d] : order) {
    if (stop.Expired()) {
      // No plan yet: the caller has gone or the time is up before one whole pass.
      s.feasible = false;
      s.time_limit_reached = true;
      s.cancelled = stop.Cancelled();
      s.heuristic_cost_usd_per_hour = std::numeric_limits<double>::infinity();
      s.solve_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return s;
    }
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) {
      double best = std::numeric_limits<double>::infinity();
      for (size_t c = 0; c < dem.choices.size(); ++c) {
        const double m = marginal(dem.choices[c].resource, double(dem.choices[c].replicas) *
                                                               dem.choices[c].gpus_per_replica);
        if (m < best) {
          best = m;
          s.choice[d] = static_cast<int>(c);
        }
      }
      if (s.choice[d] < 0) {
        ok = false;
        s.choice[d] = dem.choices.empty() ? -1 : 0;
        if (s.choice[d] < 0) return s;
      }
      const FleetChoice& c = dem.choices[s.choice[d]];
      commit(c.resource, double(c.replicas) * c.gpus_per_replica);
      continue;
    }
    const size_t nr = dem.bucket_choices.size();
    s.bucket_slices[d].assign(dem.buckets.size(), std::vector<int>(nr, 0));
    for (size_t b = 0; b < dem.buckets.size(); ++b) {
      double best = std::numeric_limits<double>::infinity();
      size_t pick = nr;
      for (size_t r = 0; r < nr; ++r) {
        if (dem.buckets[b].capacity[r] <= 0) continue;
        const double unit = ResourcePrice(pr, dem.bucket_choices[r].resource) *
                            dem.bucket_choices[r].gpus_per_replica / dem.buckets[b].capacity[r];
        if (unit < best) {
          best = unit;
          pick = r;
        }
      }
      if (pick == nr) return s;  // a bucket nothing can serve: infeasible
      s.bucket_slices[d][b][pick] = dem.slice_factor;
    }
    s.bucket_replicas[d].assign(nr, 0);
    for (size_t r = 0; r < nr; ++r) {
      s.bucket_replicas[d][r] = Replicas(dem, s.bucket_slices[d], r);
      commit(dem.bucket_choices[r].resource,
             double(s.bucket_replicas[d][r]) * dem.bucket_choices[r].gpus_per_replica);
    }
  }
  CountWhole(pr, s);
  PackMig(pr, s);
  s.feasible = ok && WithinLimits(pr, s);
  s.cost_usd_per_hour = FleetCost(pr, s);
  s.heuristic_cost_usd_per_hour =
      s.feasible ? s.cost_usd_per_hour : std::numeric_limits<double>::infinity();
  s.solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

namespace {

// Column bookkeeping for the MIP.
struct Mip {
  std::vector<double> lb, ub, obj;
  std::vector<bool> integer;
  std::vector<std::string> names;
  std::vector<int> rows, cols;
  std::vector<double> elems;
  std::vector<double> row_lb, row_ub;

  int AddCol(double lo, double hi, double cost, bool is_int, std::string name) {
    lb.push_back(lo);
    ub.push_back(hi);
    obj.push_back(cost);
    integer.push_back(is_int);
    names.push_back(std::move(name));
    return static_cast<int>(lb.size()) - 1;
  }
  int AddRow(double lo, double hi) {
    row_lb.push_back(lo);
    row_ub.push_back(hi);
    return static_cast<int>(row_lb.size()) - 1;
  }
  void Set(int row, int col, double v) {
    rows.push_back(row);
    cols.push_back(col);
    elems.push_back(v);
  }
};

// The MIP and where its variables are. Two kinds share one builder:
//  - exact: the model of fleet_solver.h (integer slices, replicas per (demand, resource),
//    GPUs per MIG pattern);
//  - relaxed (the bound): slices continuous, and on a GPU type with MIG profiles the whole
//    family (whole GPUs of any TP degree and every MIG profile) is pooled into one integer
//    count of physical GPUs through its compute slices: a replica of profile p uses
//    compute_slices(p) of the 7, a whole-GPU replica all 7 per GPU, and no layout uses more
//    than 7. Every exact plan is feasible here at the same cost, so its optimum (and CBC's
//    bound on it) is a lower bound for the exact problem. It has one integer per GPU family
//    instead of a branch per near-identical slice, replica and pattern, which is where the
//    exact model's search goes (a k/7 slice at k/7 of the price and throughput ties with
//    every other way of buying the same capacity).
struct Model {
  Mip m;
  std::vector<std::vector<int>> z, n;
  std::vector<std::vector<std::vector<int>>> x;
  std::vector<std::vector<int>> y;
  std::vector<int> bought;
  std::vector<int> pool_of_type;    // relaxed: per GPU type, its pool's row (-1: not pooled)
  std::vector<double> pool_weight;  // relaxed: units per whole GPU of a pooled type
};

bool HasMig(const FleetGpuType& t) { return !t.mig_profiles.empty(); }

// Compute slices (of 7) one replica of `choice` occupies on a GPU with MIG profiles.
int ComputeSlices(const FleetProblem& pr, const FleetChoice& choice) {
  const FleetResource& res = pr.resources[choice.resource];
  if (res.profile < 0) return kComputeSlices * choice.gpus_per_replica;
  return pr.gpu_types[res.gpu_type].mig_profiles[res.profile].compute_slices;
}

Model BuildModel(const FleetProblem& pr, bool relaxed, bool integer_slices = false) {
  const double inf = std::numeric_limits<double>::infinity();
  const size_t nd = pr.demands.size();
  const size_t nt = pr.gpu_types.size();
  Model model;
  Mip& m = model.m;
  // Per type: "count - bought <= owned", "count <= max"; exact: MIG supply per profile;
  // relaxed: pooled units (below) used <= units bought.
  std::vector<int> cost_row(nt), limit_row(nt, -1), pool_row(nt, -1);
  std::vector<double> pool_weight(nt, 0);  // units per whole GPU of the type
  std::vector<std::vector<int>> supply_row(nt);
  std::vector<std::pair<int, double>> pools;  // relaxed price pools: (row, $ per unit)
  for (size_t t = 0; t < nt; ++t) {
    const FleetGpuType& type = pr.gpu_types[t];
    cost_row[t] = m.AddRow(-inf, type.owned);
    if (type.max_count >= 0) limit_row[t] = m.AddRow(-inf, type.max_count);
    if (relaxed && HasMig(type)) {
      pool_row[t] = m.AddRow(-inf, 0);  // compute slices
      pool_weight[t] = kComputeSlices;
      continue;
    }
    for (size_t p = 0; p < type.mig_profiles.size(); ++p)
      supply_row[t].push_back(m.AddRow(-inf, 0));
  }
  if (relaxed) {
    // Types bought one at a time whose prices are whole multiples of a cheaper one (MIG slices
    // sold as types: k/7 of an A100 at k/7 of its price) pool too: a replica of weight w
    // costs at least w x the unit price, and the units bought are a whole number.
    std::vector<size_t> order(nt);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return pr.gpu_types[a].price_usd_per_hour < pr.gpu_types[b].price_usd_per_hour;
    });
    auto poolable = [&](const FleetGpuType& t) {
      return !HasMig(t) && t.owned == 0 && t.max_count < 0 && t.price_usd_per_hour > 0;
    };
    for (size_t i = 0; i < order.size(); ++i) {
      const FleetGpuType& base = pr.gpu_types[order[i]];
      if (pool_row[order[i]] >= 0 || !poolable(base)) continue;
      std::vector<std::pair<size_t, int>> members = {{order[i], 1}};
      double unit = base.price_usd_per_hour;
      for (size_t j = i + 1; j < order.size(); ++j) {
        const FleetGpuType& other = pr.gpu_types[order[j]];
        if (pool_row[order[j]] >= 0 || !poolable(other)) continue;
        const double ratio = other.price_usd_per_hour / base.price_usd_per_hour;
        const double k = std::round(ratio);
        if (k < 1 || k > 16 || std::abs(ratio - k) > 1e-3 * ratio) continue;
        members.emplace_back(order[j], static_cast<int>(k));
        unit = std::min(unit, other.price_usd_per_hour / k);
      }
      if (members.size() < 2) continue;
      const int row = m.AddRow(-inf, 0);
      for (const auto& [t, w] : members) {
        pool_row[t] = row;
        pool_weight[t] = w;
      }
      pools.emplace_back(row, unit);
    }
  }
  // Usage of `replicas` replicas of `choice` by column `col`.
  auto add_usage = [&](int col, const FleetChoice& choice, double replicas) {
    const FleetResource& res = pr.resources[choice.resource];
    const int t = res.gpu_type;
    if (pool_row[t] >= 0) {
      const double units =
          res.profile < 0 ? pool_weight[t] * choice.gpus_per_replica : ComputeSlices(pr, choice);
      m.Set(pool_row[t], col, replicas * units);
    } else if (res.profile < 0) {
      m.Set(cost_row[t], col, replicas * choice.gpus_per_replica);
      if (limit_row[t] >= 0) m.Set(limit_row[t], col, replicas * choice.gpus_per_replica);
    } else {
      m.Set(supply_row[t][res.profile], col, replicas);
    }
  };
  model.z.resize(nd);
  model.n.resize(nd);
  model.x.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) {
      const int row = m.AddRow(1, 1);
      for (size_t c = 0; c < dem.choices.size(); ++c) {
        const int col = m.AddCol(0, 1, 0, true, absl::StrCat("z_", d, "_", c));
        model.z[d].push_back(col);
        m.Set(row, col, 1);
        add_usage(col, dem.choices[c], dem.choices[c].replicas);
      }
      continue;
    }
    const size_t nr = dem.bucket_choices.size();
    std::vector<int> load_row(nr, -1);
    model.n[d].assign(nr, -1);
    for (size_t r = 0; r < nr; ++r) {
      const FleetChoice& choice = dem.bucket_choices[r];
      if (pool_row[pr.resources[choice.resource].gpu_type] >= 0) continue;  // pooled
      load_row[r] = m.AddRow(-inf, 0);
      const int col = m.AddCol(0, inf, 0, true, absl::StrCat("n_", d, "_", r));
      model.n[d][r] = col;
      m.Set(load_row[r], col, -1);
      add_usage(col, choice, 1);
    }
    model.x[d].assign(dem.buckets.size(), std::vector<int>(nr, -1));
    for (size_t b = 0; b < dem.buckets.size(); ++b) {
      const int row = m.AddRow(dem.slice_factor, dem.slice_factor);
      for (size_t r = 0; r < nr; ++r) {
        if (dem.buckets[b].capacity[r] <= 0) continue;
        const int col = m.AddCol(0, dem.slice_factor, 0, !relaxed || integer_slices,
                                 absl::StrCat("x_", d, "_", b, "_", r));
        model.x[d][b][r] = col;
        m.Set(row, col, 1);
        if (load_row[r] >= 0) {
          m.Set(load_row[r], col, Load(dem, b, r));
        } else {
          add_usage(col, dem.bucket_choices[r], Load(dem, b, r));
        }
      }
    }
  }
  model.y.resize(nt);
  model.bought.resize(nt);
  for (size_t t = 0; t < nt; ++t) {
    const FleetGpuType& type = pr.gpu_types[t];
    if (relaxed && HasMig(type)) {
      const int col = m.AddCol(0, inf, 0, true, absl::StrCat("g_", t));
      m.Set(pool_row[t], col, -kComputeSlices);
      m.Set(cost_row[t], col, 1);
      if (limit_row[t] >= 0) m.Set(limit_row[t], col, 1);
    } else {
      for (size_t k = 0; k < type.patterns.size(); ++k) {
        const int col = m.AddCol(0, inf, 0, true, absl::StrCat("y_", t, "_", k));
        model.y[t].push_back(col);
        m.Set(cost_row[t], col, 1);
        if (limit_row[t] >= 0) m.Set(limit_row[t], col, 1);
        for (size_t p = 0; p < type.mig_profiles.size(); ++p) {
          if (type.patterns[k].counts[p] > 0)
            m.Set(supply_row[t][p], col, -type.patterns[k].counts[p]);
        }
      }
    }
    model.bought[t] = m.AddCol(0, inf, type.price_usd_per_hour, true, absl::StrCat("b_", t));
    m.Set(cost_row[t], model.bought[t], -1);
  }
  for (size_t i = 0; i < pools.size(); ++i) {
    const int col = m.AddCol(0, inf, pools[i].second, true, absl::StrCat("u_", i));
    m.Set(pools[i].first, col, -1);
  }
  model.pool_of_type = pool_row;
  model.pool_weight = pool_weight;
  return model;
}

// CLP asserts |objective coefficient| < 1e25 and aborts the process otherwise (and loses
// precision long before). Inputs are range-checked (core/limits.h) so this never fails; it is
// the last line of defence that keeps a bad number from taking the daemon down.
bool SolverSafe(const Mip& m) {
  constexpr double kMaxCoefficient = 1e20;
  auto safe = [](double v) { return std::isfinite(v) && std::abs(v) < kMaxCoefficient; };
  return std::all_of(m.obj.begin(), m.obj.end(), safe) &&
         std::all_of(m.elems.begin(), m.elems.end(), safe);
}

void LoadSolver(const Mip& m, OsiClpSolverInterface& solver) {
  const int ncols = static_cast<int>(m.lb.size());
  CoinPackedMatrix matrix(false, m.rows.data(), m.cols.data(), m.elems.data(),
                          static_cast<CoinBigIndex>(m.elems.size()));
  matrix.setDimensions(static_cast<int>(m.row_lb.size()), ncols);
  solver.messageHandler()->setLogLevel(0);
  solver.setIntParam(OsiNameDiscipline, 1);
  // ClpSimplex::initialSolve otherwise points a process-wide static at the model and installs
  // a SIGINT handler for the solve (ClpSolve.cpp): "interrupt handling - 0 yes, 1 no (for
  // threadsafe)", ClpSolve.hpp. Copies of this solver (CBC's clones) inherit the option.
  ClpSolve solve_options;  // OsiClpSolverInterface's default
  solve_options.setSpecialOption(2, 1);
  solver.setSolveOptions(solve_options);
  solver.loadProblem(matrix, m.lb.data(), m.ub.data(), m.obj.data(), m.row_lb.data(),
                     m.row_ub.data());
  for (int c = 0; c < ncols; ++c) {
    if (m.integer[c]) solver.setInteger(c);
    solver.setColName(c, m.names[c]);
  }
}

// CbcMain0/CbcMain1 (CBC's driver) keep process-wide state: the command-line parser's
// position (CbcOrClpRead_mode), the model the SIGINT handler stops, the preprocessing
// pointer, and the zero-half cut generator's tabu-search arrays (Cgl012cut.cpp statics), so
// driver solves are serialised. Plain CbcModel branch and bound with the generators used
// below touches no mutable static (checked with `nm` on Debian's libCbc/libCgl/libClp 2.10:
// the only others are in CbcGeneralDepth, CbcThread and Cgl012cut, none used here) and runs
// without it.
std::timed_mutex& CbcMutex() {
  static std::timed_mutex* m = new std::timed_mutex;
  return *m;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// What CBC's and CLP's event handlers watch: the caller's cancellation, and a hard deadline
// a little past the run's own time limit (CBC stops itself at its limit, with a valid bound;
// this only catches stages that overrun it). Records whether it fired: a run it stopped has
// had LP solves cut short, so its bound and optimality proof mean nothing.
struct StopWatch {
  const FleetStop* stop;
  FleetStop::Clock::time_point hard_deadline;
  bool fired = false;
  bool Check() {
    if (!fired && (stop->Cancelled() || FleetStop::Clock::now() >= hard_deadline)) fired = true;
    return fired;
  }
};

// Ends CBC's search at its next event (node, cut pass, heuristic pass) once the watch fires,
// and makes every later time check fail too (root cut loops and heuristics look at the time,
// not at events).
class CbcStopHandler : public CbcEventHandler {
 public:
  explicit CbcStopHandler(StopWatch* watch) : watch_(watch) {}
  CbcAction event(CbcEvent) override { return Check(); }
  CbcAction event(CbcEvent, void*) override { return Check(); }
  CbcEventHandler* clone() const override { return new CbcStopHandler(*this); }

 private:
  CbcAction Check() {
    if (!watch_->Check()) return noAction;
    if (model_ != nullptr) model_->setMaximumSeconds(0);
    return stop;
  }
  StopWatch* watch_;
};

// Ends CLP's simplex (status 5, "stopped by event handler") after the iteration in which the
// watch fires: LP solves are where CBC spends its time between events.
class ClpStopHandler : public ClpEventHandler {
 public:
  explicit ClpStopHandler(StopWatch* watch) : watch_(watch) {}
  int event(Event which) override { return which == endOfIteration && watch_->Check() ? 0 : -1; }
  ClpEventHandler* clone() const override { return new ClpStopHandler(*this); }

 private:
  StopWatch* watch_;
};

// How far past its own time limit a CBC run may go before the event handlers stop it: CBC
// checks the time between LP solves and cut passes, which take milliseconds on the largest
// fleets limits.h allows, so a tenth of a second is only ever reached by a stage that does not
// look at the clock.
constexpr double kCbcOverrunSeconds = 0.1;

struct CbcResult {
  std::vector<double> values;  // best solution, empty if none
  double bound = 0;            // proven lower bound on the model's optimum
  bool proven = false;
  bool stopped = false;  // the event handlers stopped it: bound and proven mean nothing
};

// A MIP start: (column, value) pairs; columns not listed are 0.
using MipStart = std::vector<std::pair<int, double>>;

// Runs CBC on `solver` (log off, wall-clock limit, relative gap) until `seconds` pass, the gap
// is closed or `stop` expires.
//  - plain (`full` false): branch and bound alone (small relaxations);
//  - full with the driver (`driver`): CbcMain1's root processing, cut generators and
//    heuristics; the caller holds CbcMutex;
//  - full without it: branch and bound with reentrant cut generators at the root (probing,
//    knapsack covers, mixed-integer rounding) and the rounding heuristic.
CbcResult RunCbc(const OsiClpSolverInterface& solver, double seconds, double gap, bool full,
                 bool driver, const MipStart& mipstart, const FleetStop& stop) {
  CbcResult out;
  seconds = std::min(seconds, stop.SecondsLeft());
  if (stop.Expired() || seconds <= 0) {
    out.stopped = stop.Expired();
    return out;
  }
  StopWatch watch{&stop, FleetStop::Clock::now() +
                             std::chrono::duration_cast<FleetStop::Clock::duration>(
                                 std::chrono::duration<double>(seconds + kCbcOverrunSeconds))};
  CbcModel model(solver);
  model.messageHandler()->setLogLevel(0);
  CbcStopHandler cbc_stop(&watch);
  {
    // On the model's own copy of the solver; CBC's clones of it copy the handler.
    ClpStopHandler clp_stop(&watch);
    dynamic_cast<OsiClpSolverInterface*>(model.solver())
        ->getModelPtr()
        ->passInEventHandler(&clp_stop);
  }
  const int ncols = solver.getNumCols();
  if (!full || !driver) {
    if (!full) {
      // CbcMain1's root processing (CglPreProcess, Clp presolve) crashes on the relaxation
      // (continuous slices; Debian CBC 2.10). It is small: plain branch and bound suffices.
      model.solver()->setHintParam(OsiDoPresolveInInitial, false, OsiHintTry);
      model.solver()->setHintParam(OsiDoPresolveInResolve, false, OsiHintTry);
    }
    model.passInEventHandler(&cbc_stop);
    model.setUseElapsedTime(true);
    model.setMaximumSeconds(std::max(0.02, seconds));
    model.setAllowableFractionGap(gap);
    model.setNumberThreads(0);
    // Cuts at the root only (-99), and no Gomory cuts: their dense rows fill CBC's cut pool
    // (~40 MB on 9,000 columns, heaptrack). addCutGenerator and addHeuristic copy these.
    CglProbing probing;
    probing.setUsingObjective(1);
    probing.setMaxPass(1);
    probing.setMaxPassRoot(1);
    probing.setMaxProbe(100);
    probing.setMaxLook(50);
    CglKnapsackCover knapsack;
    CglMixedIntegerRounding2 rounding_cuts;
    CbcRounding rounding(model);
    if (full) {
      model.addCutGenerator(&probing, -99, "probing");
      model.addCutGenerator(&knapsack, -99, "knapsack");
      model.addCutGenerator(&rounding_cuts, -99, "mir");
      model.addHeuristic(&rounding);
    }
    model.initialSolve();
    if (!mipstart.empty() && !stop.Expired()) {
      std::vector<double> start(ncols, 0.0);
      for (const auto& [col, value] : mipstart) start[col] = value;
      double objective = 0;
      const double* cost = solver.getObjCoefficients();
      for (int c = 0; c < ncols; ++c) objective += cost[c] * start[c];
      model.setBestSolution(start.data(), ncols, objective, /*check=*/true);
    }
    model.branchAndBound();
  } else {
    CbcMain0(model);
    model.messageHandler()->setLogLevel(0);
    model.passInEventHandler(&cbc_stop);  // after CbcMain0; CbcMain1's copy clones it
    if (!mipstart.empty()) {
      std::vector<std::pair<std::string, double>> named;
      named.reserve(mipstart.size());
      for (const auto& [col, value] : mipstart) named.emplace_back(solver.getColName(col), value);
      model.setMIPStart(named);
    }
    const std::string sec = absl::StrCat(std::max(0.02, seconds));
    const std::string ratio = absl::StrCat(gap);
    // No CglPreProcess: Debian's CBC 2.10 crashes in CglPreProcess::postProcess when the time
    // limit falls at the wrong moment (reproducible with 1000 workloads and a 1 s limit).
    const char* argv[] = {"gpufit", "-log",      "0",         "-timeMode",   "elapsed",
                          "-sec",   sec.c_str(), "-ratioGap", ratio.c_str(), "-preprocess",
                          "off",    "-solve",    "-quit"};
    CbcMain1(static_cast<int>(sizeof(argv) / sizeof(argv[0])), argv, model);
  }
  out.stopped = watch.fired;
  if (!out.stopped) {
    out.bound = model.getBestPossibleObjValue();
    out.proven = model.isProvenOptimal();
  }
  if (model.bestSolution() != nullptr) {
    out.values.assign(model.bestSolution(), model.bestSolution() + ncols);
  }
  return out;
}

// Slices from (possibly fractional) x values: per bucket the whole parts, then the largest
// remainders until slice_factor slices are placed.
void RoundSlices(const FleetProblem& pr, const Model& model, const double* values,
                 FleetSolution& r) {
  const size_t nd = pr.demands.size();
  r.choice.assign(nd, -1);
  r.bucket_slices.assign(nd, {});
  r.bucket_replicas.assign(nd, {});
  for (size_t d = 0; d < nd; ++d) {
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) {
      double most = -1;
      for (size_t c = 0; c < model.z[d].size(); ++c) {
        if (values[model.z[d][c]] > most) {
          most = values[model.z[d][c]];
          r.choice[d] = static_cast<int>(c);
        }
      }
      continue;
    }
    const size_t nr = dem.bucket_choices.size();
    r.bucket_slices[d].assign(dem.buckets.size(), std::vector<int>(nr, 0));
    for (size_t b = 0; b < dem.buckets.size(); ++b) {
      std::vector<std::pair<double, size_t>> rest;
      int given = 0;
      for (size_t c = 0; c < nr; ++c) {
        const int col = model.x[d][b][c];
        if (col < 0) continue;
        const double v = std::max(0.0, values[col]);
        const int whole = static_cast<int>(std::floor(v + 1e-9));
        r.bucket_slices[d][b][c] = whole;
        given += whole;
        rest.emplace_back(-(v - whole), c);
      }
      std::sort(rest.begin(), rest.end());
      for (size_t i = 0; given < dem.slice_factor && !rest.empty(); ++i, ++given) {
        ++r.bucket_slices[d][b][rest[i % rest.size()].second];
      }
    }
  }
}

// Slices from fractional x values without overflowing replicas: whole parts first, then each
// bucket's remaining slices (largest load first) go where the load still fits in the
// replicas the fractional plan rounds up to, preferring the resource the plan gave most of the
// slice; failing that, where an extra replica costs least.
void RoundSlicesWithinReplicas(const FleetProblem& pr, const Model& model, const double* values,
                               FleetSolution& r) {
  RoundSlices(pr, model, values, r);
  for (size_t d = 0; d < pr.demands.size(); ++d) {
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) continue;
    const size_t nr = dem.bucket_choices.size();
    std::vector<double> budget(nr, 0), load(nr, 0), unit(nr);
    for (size_t r2 = 0; r2 < nr; ++r2) {
      unit[r2] = ResourcePrice(pr, dem.bucket_choices[r2].resource) *
                 dem.bucket_choices[r2].gpus_per_replica;
    }
    struct Piece {
      double size;
      size_t bucket;
    };
    std::vector<Piece> pending;
    for (size_t b = 0; b < dem.buckets.size(); ++b) {
      int given = 0;
      for (size_t c = 0; c < nr; ++c) {
        const int col = model.x[d][b][c];
        if (col < 0) {
          r.bucket_slices[d][b][c] = 0;
          continue;
        }
        const double v = std::max(0.0, values[col]);
        budget[c] += v * Load(dem, b, c);
        const int whole = static_cast<int>(std::floor(v + 1e-9));
        r.bucket_slices[d][b][c] = whole;
        load[c] += whole * Load(dem, b, c);
        given += whole;
      }
      double size = 0;
      for (size_t c = 0; c < nr; ++c) {
        if (model.x[d][b][c] >= 0) size = std::max(size, Load(dem, b, c));
      }
      for (; given < dem.slice_factor; ++given) pending.push_back({size, b});
    }
    for (double& v : budget) v = std::ceil(v - 1e-7);
    std::stable_sort(pending.begin(), pending.end(),
                     [](const Piece& a, const Piece& b) { return a.size > b.size; });
    for (const Piece& piece : pending) {
      const size_t b = piece.bucket;
      size_t pick = nr;
      double best_share = -1, best_extra = std::numeric_limits<double>::infinity();
      for (size_t c = 0; c < nr; ++c) {
        const int col = model.x[d][b][c];
        if (col < 0) continue;
        const double share = values[col] - std::floor(values[col] + 1e-9);
        const double after = load[c] + Load(dem, b, c);
        if (after <= budget[c] + 1e-7 && share > best_share) {
          best_share = share;
          pick = c;
        }
      }
      if (pick == nr) {
        for (size_t c = 0; c < nr; ++c) {
          if (model.x[d][b][c] < 0) continue;
          const double extra =
              (std::ceil(load[c] + Load(dem, b, c) - 1e-7) - std::ceil(load[c] - 1e-7)) * unit[c];
          if (extra < best_extra) {
            best_extra = extra;
            pick = c;
          }
        }
        if (pick == nr) continue;
        budget[pick] = std::max(budget[pick], std::ceil(load[pick] + Load(dem, b, pick) - 1e-7));
      }
      ++r.bucket_slices[d][b][pick];
      load[pick] += Load(dem, b, pick);
    }
  }
}

// Per [demand][bucket][choice] of the relaxation: the choice that carries its slices when
// every pooled family is served by its finest member (fewest units per replica: the 1g slice
// of an A100 family), itself when not pooled, -1 when it cannot serve the bucket. One size per
// family removes the ties between sizes that the pooling removed from the bound.
std::vector<std::vector<std::vector<int>>> FinestMembers(const FleetProblem& pr,
                                                         const Model& relaxed) {
  std::vector<std::vector<std::vector<int>>> keep(pr.demands.size());
  for (size_t d = 0; d < pr.demands.size(); ++d) {
    const FleetDemand& dem = pr.demands[d];
    if (!dem.bucketed()) continue;
    const size_t nr = dem.bucket_choices.size();
    auto pool = [&](size_t r) {
      return relaxed.pool_of_type[pr.resources[dem.bucket_choices[r].resource].gpu_type];
    };
    auto weight = [&](size_t r) {
      const FleetChoice& c = dem.bucket_choices[r];
      const FleetResource& res = pr.resources[c.resource];
      return res.profile >= 0 ? ComputeSlices(pr, c)
                              : relaxed.pool_weight[res.gpu_type] * c.gpus_per_replica;
    };
    keep[d].assign(dem.buckets.size(), std::vector<int>(nr, -1));
    for (size_t b = 0; b < dem.buckets.size(); ++b) {
      for (size_t r = 0; r < nr; ++r) {
        if (relaxed.x[d][b][r] < 0) continue;
        keep[d][b][r] = static_cast<int>(r);
        if (pool(r) < 0) continue;
        for (size_t q = 0; q < nr; ++q) {
          if (relaxed.x[d][b][q] >= 0 && pool(q) == pool(r) && weight(q) < weight(keep[d][b][r])) {
            keep[d][b][r] = static_cast<int>(q);
          }
        }
      }
    }
  }
  return keep;
}

bool HasBuckets(const FleetProblem& pr) {
  return std::any_of(pr.demands.begin(), pr.demands.end(),
                     [](const FleetDemand& d) { return d.bucketed(); });
}

}  // namespace

FleetSolution SolveFleet(const FleetProblem& pr, const FleetSolveOptions& options,
                         const FleetStop& caller) {
  const auto start = std::chrono::steady_clock::now();
  // Everything below stops at the solve's own time limit or the caller's deadline, whichever
  // is first, or when the caller cancels. CBC runs get their share of what is left of it.
  const FleetStop stop =
      caller.WithDeadline(start + std::chrono::duration_cast<FleetStop::Clock::duration>(
                                      std::chrono::duration<double>(options.time_limit_seconds)));
  auto left = [&]() { return stop.SecondsLeft(); };
  FleetSolution heuristic = SolveFleetHeuristic(pr, stop);
  if (!options.exact || (!heuristic.feasible && heuristic.time_limit_reached)) {
    heuristic.cancelled = caller.Cancelled();
    return heuristic;
  }
  const size_t nd = pr.demands.size();
  const size_t nt = pr.gpu_types.size();
  Model model = BuildModel(pr, /*relaxed=*/false);
  const Mip& m = model.m;
  if (!SolverSafe(m)) return heuristic;
  OsiClpSolverInterface solver;
  LoadSolver(m, solver);
  const bool driver = options.cbc_driver;

  // Warm starts: the heuristic's plan and roundings of LP solutions, each with its slack
  // filled; the cheapest goes to CBC as its MIP start.
  FleetSolution start_plan = heuristic;
  auto finish = [&](FleetSolution& s) {
    for (size_t d = 0; d < nd; ++d) {
      const FleetDemand& dem = pr.demands[d];
      if (!dem.bucketed()) continue;
      FillSlack(pr, dem, s.bucket_slices[d], stop);
      s.bucket_replicas[d].assign(dem.bucket_choices.size(), 0);
      for (size_t r = 0; r < dem.bucket_choices.size(); ++r)
        s.bucket_replicas[d][r] = Replicas(dem, s.bucket_slices[d], r);
    }
    auto evaluate = [&](FleetSolution& plan) {
      CountWhole(pr, plan);
      PackMig(pr, plan);
      plan.feasible = WithinLimits(pr, plan);
      plan.cost_usd_per_hour = FleetCost(pr, plan);
    };
    evaluate(s);
    // FillSlack prices a MIG instance at its share of the GPU, so it cannot see that a few
    // instances fewer empty a whole GPU (85 1g slices need 13 A100s, 84 only 12). Try shedding
    // up to 7 replicas of each choice, judged by the plan's real cost.
    for (int round = 0; round < 8 && s.feasible && !stop.Expired(); ++round) {
      bool improved = false;
      for (size_t d = 0; d < nd && !improved && !stop.Expired(); ++d) {
        const FleetDemand& dem = pr.demands[d];
        if (!dem.bucketed()) continue;
        for (size_t r = 0; r < dem.bucket_choices.size() && !improved; ++r) {
          const int have = s.bucket_replicas[d][r];
          const bool mig = pr.resources[dem.bucket_choices[r].resource].profile >= 0;
          for (int shed = 1; shed <= std::min(have, mig ? kComputeSlices : 1); ++shed) {
            FleetSolution trial = s;
            if (!MoveOff(pr, dem, trial.bucket_slices[d], r, have - shed)) break;
            for (size_t q = 0; q < dem.bucket_choices.size(); ++q)
              trial.bucket_replicas[d][q] = Replicas(dem, trial.bucket_slices[d], q);
            evaluate(trial);
            if (trial.feasible && trial.cost_usd_per_hour < s.cost_usd_per_hour - 1e-9) {
              s = std::move(trial);
              improved = true;
              break;
            }
          }
        }
      }
      if (!improved) break;
    }
    if (s.feasible &&
        (!start_plan.feasible || s.cost_usd_per_hour < start_plan.cost_usd_per_hour)) {
      start_plan = s;
      start_plan.method = "heuristic";  // LP roundings too: no proof of their own
    }
  };
  if (heuristic.feasible) {
    FleetSolution filled = heuristic;
    finish(filled);
  }
  if (!stop.Expired()) {
    // On a copy: CBC does its own root processing on the original.
    OsiClpSolverInterface relaxation(solver);
    StopWatch watch{&stop, stop.deadline()};
    ClpStopHandler clp_stop(&watch);
    relaxation.getModelPtr()->passInEventHandler(&clp_stop);
    relaxation.initialSolve();
    if (!watch.fired && relaxation.isProvenOptimal()) {
      FleetSolution r;
      RoundSlices(pr, model, relaxation.getColSolution(), r);
      finish(r);
    }
  }

  // What the heuristic and LP rounding give on their own (reported as the warm start).
  const double warm_start_cost =
      start_plan.feasible ? start_plan.cost_usd_per_hour : std::numeric_limits<double>::infinity();
  // Driver solves take turns (CbcMutex); one waiting for its turn gives up when its own stop
  // strikes and returns its warm start.
  std::unique_lock<std::timed_mutex> lock(CbcMutex(), std::defer_lock);
  if (driver) {
    while (!lock.try_lock_for(FleetStop::kCancelPollInterval)) {
      if (stop.Expired()) break;
    }
  }
  // Bucketed demands: prove a bound on the pooled relaxation first (BuildModel), and round
  // its plan as another start. It gets up to half the time.
  double proven_bound = 0;
  std::vector<std::vector<std::vector<double>>> relaxed_x;  // its slices, [demand][bucket][choice]
  std::vector<int> relaxed_pool_of_type;
  std::vector<std::vector<double>> relaxed_n;  // its replicas, [demand][choice]; -1 pooled
  std::vector<double> relaxed_pool_weight;
  // Per [demand][bucket][choice]: the choice its slices go to when each pooled family is
  // served by its finest member (itself when not pooled; -1 when it cannot serve the bucket).
  std::vector<std::vector<std::vector<int>>> keep_of;
  if (HasBuckets(pr) && !stop.Expired()) {
    Model relaxed = BuildModel(pr, /*relaxed=*/true);
    OsiClpSolverInterface rsolver;
    LoadSolver(relaxed.m, rsolver);
    const CbcResult rr = RunCbc(rsolver, 0.5 * left(), std::min(options.relative_gap, 1e-3),
                                /*full=*/false, driver, {}, stop);
    // An infeasible relaxation reports a huge bound; the exact model then has no plan either
    // and the bound is left to CBC there.
    if (std::isfinite(rr.bound) && rr.bound < 1e20) proven_bound = std::max(proven_bound, rr.bound);
    if (!rr.values.empty()) {
      FleetSolution r;
      RoundSlices(pr, relaxed, rr.values.data(), r);
      finish(r);
      FleetSolution fit;
      RoundSlicesWithinReplicas(pr, relaxed, rr.values.data(), fit);
      finish(fit);
      keep_of = FinestMembers(pr, relaxed);
      // The same with each pooled family's slices on its finest member: replicas then round
      // up once per family (1g slices packing 7 to a GPU), not once per size.
      std::vector<double> finest = rr.values;
      for (size_t d = 0; d < nd; ++d) {
        for (size_t b = 0; b < keep_of[d].size(); ++b) {
          for (size_t r = 0; r < keep_of[d][b].size(); ++r) {
            const int keep = keep_of[d][b][r];
            if (keep < 0 || keep == static_cast<int>(r)) continue;
            finest[relaxed.x[d][b][keep]] += finest[relaxed.x[d][b][r]];
            finest[relaxed.x[d][b][r]] = 0;
          }
        }
      }
      FleetSolution fit_finest;
      RoundSlicesWithinReplicas(pr, relaxed, finest.data(), fit_finest);
      finish(fit_finest);
      relaxed_pool_of_type = relaxed.pool_of_type;
      relaxed_pool_weight = relaxed.pool_weight;
      relaxed_x.resize(nd);
      relaxed_n.resize(nd);
      for (size_t d = 0; d < nd; ++d) {
        for (int col : relaxed.n[d]) relaxed_n[d].push_back(col < 0 ? -1 : rr.values[col]);
        relaxed_x[d].resize(relaxed.x[d].size());
        for (size_t b = 0; b < relaxed.x[d].size(); ++b) {
          for (int col : relaxed.x[d][b]) relaxed_x[d][b].push_back(col < 0 ? 0 : rr.values[col]);
        }
      }
    }
  }

  // A plan from CBC's values for the exact model (replicas recomputed: the fewest carrying
  // the assigned load).
  auto from_values = [&](const std::vector<double>& values) {
    FleetSolution s;
    s.choice.assign(nd, -1);
    s.bucket_slices.assign(nd, {});
    s.bucket_replicas.assign(nd, {});
    for (size_t d = 0; d < nd; ++d) {
      const FleetDemand& dem = pr.demands[d];
      if (!dem.bucketed()) {
        for (size_t c = 0; c < model.z[d].size(); ++c) {
          if (values[model.z[d][c]] > 0.5) s.choice[d] = static_cast<int>(c);
        }
        continue;
      }
      const size_t nr = dem.bucket_choices.size();
      s.bucket_slices[d].assign(dem.buckets.size(), std::vector<int>(nr, 0));
      for (size_t b = 0; b < dem.buckets.size(); ++b) {
        for (size_t r = 0; r < nr; ++r) {
          if (model.x[d][b][r] >= 0)
            s.bucket_slices[d][b][r] = static_cast<int>(std::lround(values[model.x[d][b][r]]));
        }
      }
      s.bucket_replicas[d].assign(nr, 0);
      for (size_t r = 0; r < nr; ++r)
        s.bucket_replicas[d][r] = Replicas(dem, s.bucket_slices[d], r);
    }
    CountWhole(pr, s);
    s.pattern_counts.assign(nt, {});
    for (size_t t = 0; t < nt; ++t) {
      for (int col : model.y[t])
        s.pattern_counts[t].push_back(static_cast<int>(std::lround(values[col])));
    }
    s.feasible = WithinLimits(pr, s);
    s.cost_usd_per_hour = FleetCost(pr, s);
    return s;
  };
  auto mipstart_of = [&](const FleetSolution& warm) {
    MipStart mipstart;
    if (!warm.feasible) return mipstart;
    for (size_t d = 0; d < nd; ++d) {
      const FleetDemand& dem = pr.demands[d];
      if (!dem.bucketed()) {
        mipstart.emplace_back(model.z[d][warm.choice[d]], 1.0);
        continue;
      }
      for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
        mipstart.emplace_back(model.n[d][r], warm.bucket_replicas[d][r]);
        for (size_t b = 0; b < dem.buckets.size(); ++b) {
          if (model.x[d][b][r] >= 0 && warm.bucket_slices[d][b][r] > 0) {
            mipstart.emplace_back(model.x[d][b][r], warm.bucket_slices[d][b][r]);
          }
        }
      }
    }
    for (size_t t = 0; t < nt; ++t) {
      for (size_t k = 0; k < model.y[t].size(); ++k) {
        if (warm.pattern_counts[t][k] > 0) {
          mipstart.emplace_back(model.y[t][k], warm.pattern_counts[t][k]);
        }
      }
      mipstart.emplace_back(model.bought[t],
                            std::max(0, warm.Gpus(static_cast<int>(t)) - pr.gpu_types[t].owned));
    }
    return mipstart;
  };
  auto close_enough = [&]() {
    return start_plan.feasible && start_plan.cost_usd_per_hour > 0 &&
           (start_plan.cost_usd_per_hour - proven_bound) / start_plan.cost_usd_per_hour <=
               options.relative_gap;
  };
  // The proven bound as a row: CBC's root bound starts there and its gap test uses it.
  // (Added only when there is one: CglPreProcess crashes on a free row.)
  auto objective_row = [&]() {
    CoinPackedVector objective;
    for (size_t t = 0; t < nt; ++t) {
      if (pr.gpu_types[t].price_usd_per_hour != 0)
        objective.insert(model.bought[t], pr.gpu_types[t].price_usd_per_hour);
    }
    return objective;
  };
  if (proven_bound > 0) {
    solver.addRow(objective_row(), proven_bound - 1e-6 - 1e-9 * proven_bound, solver.getInfinity());
  }

  // Restricted exact model: each pooled family served by its finest member only (below). No
  // symmetric alternatives left, so CBC settles the rounding of the relaxation quickly; its
  // bound is not a bound of the full problem and is not used. Without pools it would be the
  // full model again, so it is skipped.
  const bool any_pool = std::any_of(relaxed_pool_of_type.begin(), relaxed_pool_of_type.end(),
                                    [](int row) { return row >= 0; });
  if (!relaxed_x.empty() && any_pool && !close_enough()) {
    OsiClpSolverInterface restricted(solver);
    FleetSolution warm = start_plan;  // moved onto the finest members: a start CBC accepts
    std::vector<std::vector<bool>> profile_used(nt);  // MIG profiles the finest members use
    for (size_t t = 0; t < nt; ++t)
      profile_used[t].assign(pr.gpu_types[t].mig_profiles.size(), false);
    for (size_t d = 0; d < nd; ++d) {
      const FleetDemand& dem = pr.demands[d];
      if (!dem.bucketed()) continue;
      for (size_t b = 0; b < dem.buckets.size(); ++b) {
        for (size_t r = 0; r < dem.bucket_choices.size(); ++r) {
          const int keep = keep_of[d][b][r];
          if (keep < 0) continue;
          if (keep == static_cast<int>(r)) {
            const FleetResource& res = pr.resources[dem.bucket_choices[r].resource];
            if (res.profile >= 0) profile_used[res.gpu_type][res.profile] = true;
            continue;
          }
          restricted.setColUpper(model.x[d][b][r], 0);
          if (warm.feasible) {
            warm.bucket_slices[d][b][keep] += warm.bucket_slices[d][b][r];
            warm.bucket_slices[d][b][r] = 0;
          }
        }
      }
      if (warm.feasible) {
        for (size_t r = 0; r < dem.bucket_choices.size(); ++r)
          warm.bucket_replicas[d][r] = Replicas(dem, warm.bucket_slices[d], r);
      }
    }
    if (warm.feasible) {
      CountWhole(pr, warm);
      PackMig(pr, warm);
      warm.feasible = WithinLimits(pr, warm);
    }
    // Only layouts of the profiles still in use (7x1g.10gb when only 1g slices are left), and
    // those the start uses (first-fit may file a part-filled GPU under a wider layout).
    for (size_t t = 0; t < nt; ++t) {
      for (size_t k = 0; k < model.y[t].size(); ++k) {
        if (warm.feasible && warm.pattern_counts[t][k] > 0) continue;
        const std::vector<int>& counts = pr.gpu_types[t].patterns[k].counts;
        for (size_t p = 0; p < counts.size(); ++p) {
          if (counts[p] > 0 && !profile_used[t][p]) restricted.setColUpper(model.y[t][k], 0);
        }
      }
    }
    const CbcResult rr = RunCbc(restricted, 0.5 * left(), options.relative_gap, /*full=*/true,
                                driver, mipstart_of(warm), stop);
    if (!rr.values.empty()) {
      FleetSolution s = from_values(rr.values);
      s.method = "heuristic";  // a restricted search: no proof on its own
      if (s.feasible &&
          (!start_plan.feasible || s.cost_usd_per_hour < start_plan.cost_usd_per_hour - 1e-9)) {
        start_plan = std::move(s);
      }
    }
  }

  // Without pools: the exact model with the relaxation's replica counts as caps. When the
  // relaxation's plan survives integer slices (it often does at low rates, where rounding
  // alone overflows a replica), CBC finds it as a feasibility question.
  if (!relaxed_n.empty() && !any_pool && !close_enough()) {
    OsiClpSolverInterface capped(solver);
    for (size_t d = 0; d < nd; ++d) {
      for (size_t r = 0; r < relaxed_n[d].size(); ++r) {
        if (model.n[d].empty() || model.n[d][r] < 0 || relaxed_n[d][r] < 0) continue;
        capped.setColUpper(model.n[d][r], std::round(relaxed_n[d][r]));
      }
    }
    const CbcResult rr =
        RunCbc(capped, 0.3 * left(), options.relative_gap, /*full=*/true, driver, {}, stop);
    if (!rr.values.empty()) {
      FleetSolution s = from_values(rr.values);
      s.method = "heuristic";
      if (s.feasible &&
          (!start_plan.feasible || s.cost_usd_per_hour < start_plan.cost_usd_per_hour - 1e-9)) {
        start_plan = std::move(s);
      }
    }
  }

  // Still short of the gap: the same pooled relaxation with whole slices. Coarse buckets (4x4
  // with 4 slices each) leave continuous slices a percent or so below the optimum; whole ones
  // close most of that, and pooling still keeps CBC off the ties between sizes.
  // (Without pools it would be the exact model itself: the full MIP below does that.)
  if (any_pool && !close_enough() && left() > 0.05) {
    Model pooled = BuildModel(pr, /*relaxed=*/true, /*integer_slices=*/true);
    OsiClpSolverInterface psolver;
    LoadSolver(pooled.m, psolver);
    const CbcResult rr =
        RunCbc(psolver, 0.5 * left(), 0.5 * options.relative_gap, /*full=*/true, driver, {}, stop);
    if (std::isfinite(rr.bound) && rr.bound < 1e20 && rr.bound > proven_bound) {
      proven_bound = rr.bound;
      solver.addRow(objective_row(), proven_bound - 1e-6 - 1e-9 * proven_bound,
                    solver.getInfinity());
    }
  }

  FleetSolution best = start_plan;
  bool proven = false;
  double bound = proven_bound;
  const bool skipped = close_enough();
  if (!skipped) {
    const CbcResult rr = RunCbc(solver, left(), options.relative_gap, /*full=*/true, driver,
                                mipstart_of(start_plan), stop);
    if (std::isfinite(rr.bound) && rr.bound < 1e20) bound = std::max(bound, rr.bound);
    proven = rr.proven;
    if (!rr.values.empty()) {
      FleetSolution s = from_values(rr.values);
      if (s.feasible && (!best.feasible || s.cost_usd_per_hour <= best.cost_usd_per_hour + 1e-9)) {
        best = std::move(s);
        best.method = proven ? "mip" : "mip-timeout";
      }
    }
  }
  best.heuristic_cost_usd_per_hour = warm_start_cost;
  // Proven bounds are valid whatever CBC's status; clamp numerical noise.
  best.lower_bound_usd_per_hour = std::min(bound, best.cost_usd_per_hour);
  if (!std::isfinite(best.lower_bound_usd_per_hour)) best.lower_bound_usd_per_hour = 0;
  best.gap = best.cost_usd_per_hour > 0
                 ? (best.cost_usd_per_hour - best.lower_bound_usd_per_hour) / best.cost_usd_per_hour
                 : 0;
  if (skipped) best.method = "mip";
  best.optimal = best.feasible && (proven || best.gap <= options.relative_gap + 1e-12);
  // Short of a proof, the search ended because the time (or the caller) stopped it.
  best.time_limit_reached = best.feasible && !best.optimal;
  best.cancelled = caller.Cancelled();
  best.solve_seconds = Seconds(start);
  return best;
}

}  // namespace gpufit::core

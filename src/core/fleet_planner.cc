#include "core/fleet_planner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/fleet_mig.h"
#include "core/fleet_solver.h"
#include "core/limits.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "core/status_macros.h"

namespace gpufit::core {
namespace {

struct TypeIndex {
  std::map<std::string, int> resource;  // accelerator id -> resource
};

const MeasuredCapacity* FindMeasured(const FleetRequest& req, const std::string& workload,
                                     int bucket, const std::string& accelerator, int gpus) {
  for (const MeasuredCapacity& m : req.measured) {
    if (m.workload == workload && m.bucket == bucket && m.accelerator == accelerator &&
        (m.gpus_per_replica == 0 || m.gpus_per_replica == gpus)) {
      return &m;
    }
  }
  return nullptr;
}

// More replicas than this for one workload (or bucket) on one choice (core::kMaxReplicas) is a
// capacity off by orders of magnitude (e.g. a measurement in the wrong unit); it would also
// leave the mixed-integer program ill-scaled, so such choices are rejected up front.
constexpr double kMaxReplicasPerChoice = kMaxReplicas;

std::string TooManyReplicas(const FleetRequest& req, const MeasuredCapacity& m, double replicas) {
  return absl::StrCat("measured[", &m - req.measured.data(), "]: ", m.requests_per_second,
                      " requests/s and concurrency ", m.concurrency, " per replica on ",
                      m.accelerator, " would need ", absl::SixDigits(replicas),
                      " replicas (more than 1000000); check the units");
}

// Requests/s one replica of `o` sustains for an LLM workload: its token rate at the largest
// SLO-meeting concurrency over the output length; items/s for other tasks.
double ReplicaRequestsPerSecond(const ResolvedWorkload& w, const Option& o) {
  if (w.task == Task::kLlmInference) {
    return o.prediction.max_output_tokens_per_second / std::max(1, w.output_tokens);
  }
  return o.prediction.items_per_second;
}

// Every number of the request finite and in range (core/limits.h), and no id repeated, before
// any of it reaches the solver: CLP aborts the process on an objective coefficient >= 1e25.
absl::Status CheckFleetRequest(const FleetRequest& req) {
  absl::flat_hash_set<std::string_view> seen;
  if (req.accelerators.size() > static_cast<size_t>(kMaxAcceleratorIds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("accelerators: at most ", kMaxAcceleratorIds, " ids"));
  }
  for (size_t i = 0; i < req.accelerators.size(); ++i) {
    if (!seen.insert(req.accelerators[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("accelerators[", i, "]: repeats '", req.accelerators[i], "'"));
    }
  }
  seen.clear();
  for (size_t i = 0; i < req.gpus.size(); ++i) {
    const FleetGpuOptions& g = req.gpus[i];
    const std::string at = absl::StrCat("gpus[", i, "]");
    if (!seen.insert(g.accelerator).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".accelerator: '", g.accelerator, "' is listed twice in gpus"));
    }
    GPUFIT_RETURN_IF_ERROR(CheckRange(at + ".owned", g.owned, 0, kMaxGpuCount));
    if (g.max_count >= 0) {
      GPUFIT_RETURN_IF_ERROR(CheckRange(at + ".max_count", g.max_count, 0, kMaxGpuCount));
    }
    // < 0 means "the catalog's price"; NaN is not < 0 and fails the range check.
    if (!(g.price_usd_per_hour < 0)) {
      GPUFIT_RETURN_IF_ERROR(
          CheckRange(at + ".price_usd_per_hour", g.price_usd_per_hour, 0, kMaxPriceUsdPerHour));
    }
  }
  for (size_t i = 0; i < req.measured.size(); ++i) {
    const MeasuredCapacity& m = req.measured[i];
    const std::string at = absl::StrCat("measured[", i, "]");
    GPUFIT_RETURN_IF_ERROR(
        CheckRange(at + ".requests_per_second", m.requests_per_second, 0, kMaxRatePerSecond));
    GPUFIT_RETURN_IF_ERROR(CheckRange(at + ".concurrency", m.concurrency, 0, kMaxConcurrency));
  }
  for (size_t i = 0; i < req.workloads.size(); ++i) {
    if (!req.workloads[i].buckets.has_value()) continue;
    const BucketedTraffic& bt = *req.workloads[i].buckets;
    const std::string at = absl::StrCat("workloads[", i, "].buckets");
    GPUFIT_RETURN_IF_ERROR(
        CheckPositive(at + ".requests_per_second", bt.requests_per_second, kMaxRatePerSecond));
    for (size_t b = 0; b < bt.buckets.size(); ++b) {
      GPUFIT_RETURN_IF_ERROR(CheckRange(absl::StrCat(at, ".distribution[", b, "].fraction"),
                                        bt.buckets[b].fraction, 0, kMaxBucketWeight));
    }
  }
  GPUFIT_RETURN_IF_ERROR(
      CheckPositive("solver.time_limit_seconds", req.solve.time_limit_seconds, kMaxSolveSeconds));
  GPUFIT_RETURN_IF_ERROR(CheckRange("solver.relative_gap", req.solve.relative_gap, 0, 1));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FleetProblem> BuildFleetProblem(const FleetRequest& req, const Catalog& catalog) {
  GPUFIT_RETURN_IF_ERROR(CheckFleetRequest(req));
  FleetProblem pr;
  TypeIndex index;
  std::vector<std::string> ids = req.accelerators;
  if (ids.empty()) {
    for (const Accelerator& a : catalog.accelerators()) {
      if (!a.is_mig_slice()) ids.push_back(a.id);
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    const Accelerator* a = catalog.FindAccelerator(ids[i]);
    if (a == nullptr || a->is_mig_slice()) {
      return absl::NotFoundError(absl::StrCat("accelerators[", i, "]: unknown GPU '", ids[i],
                                              "' (whole-GPU ids from `gpufit catalog`)"));
    }
    FleetGpuType t;
    t.id = a->id;
    t.price_usd_per_hour = a->price_usd_per_hour;
    if (req.allow_mig) {
      t.mig_profiles = a->mig_profiles;
      t.patterns = EnumerateMigPatterns(t.mig_profiles);
    }
    const int type = static_cast<int>(pr.gpu_types.size());
    pr.gpu_types.push_back(std::move(t));
    index.resource[a->id] = static_cast<int>(pr.resources.size());
    pr.resources.push_back({type, -1, a->id});
    for (size_t p = 0; p < pr.gpu_types[type].mig_profiles.size(); ++p) {
      const std::string id = absl::StrCat(a->id, "/", pr.gpu_types[type].mig_profiles[p].name);
      index.resource[id] = static_cast<int>(pr.resources.size());
      pr.resources.push_back({type, static_cast<int>(p), id});
    }
  }
  for (size_t i = 0; i < req.gpus.size(); ++i) {
    const FleetGpuOptions& g = req.gpus[i];
    auto it = std::find_if(pr.gpu_types.begin(), pr.gpu_types.end(),
                           [&](const FleetGpuType& t) { return t.id == g.accelerator; });
    if (it == pr.gpu_types.end()) {
      return absl::InvalidArgumentError(absl::StrCat("gpus[", i, "].accelerator: '", g.accelerator,
                                                     "' is not a GPU this fleet may use"));
    }
    if (g.owned < 0)
      return absl::InvalidArgumentError(absl::StrCat("gpus[", i, "].owned: must be >= 0"));
    it->owned = g.owned;
    it->max_count = g.max_count;
    if (g.price_usd_per_hour >= 0) it->price_usd_per_hour = g.price_usd_per_hour;
  }
  const double headroom = catalog.policy().replica_headroom;
  for (size_t i = 0; i < req.workloads.size(); ++i) {
    const FleetWorkload& fw = req.workloads[i];
    const std::string at = absl::StrCat("workloads[", i, "]");
    FleetDemand demand;
    if (!fw.buckets.has_value()) {
      GPUFIT_ASSIGN_OR_RETURN(ResolvedWorkload w, ResolveWorkload(fw.workload, catalog, at));
      demand.name = w.name.empty() ? at : w.name;
      const Decision d = Place(w, catalog);
      for (const Option& o : d.options) {
        const auto it = index.resource.find(o.accelerator->id);
        if (it == index.resource.end()) continue;
        const MeasuredCapacity* m =
            FindMeasured(req, w.name, -1, o.accelerator->id, o.gpus_per_replica);
        int replicas = o.replicas;
        if (m != nullptr) {
          // Memory and capability rejections stand; a measurement at the SLO replaces the
          // model's capacity (and overrules its SLO verdict).
          if (!o.feasible && o.rejection.cls != RejectClass::kSlo) continue;
          double need = 1;
          const double rps_demand =
              w.requests_per_second > 0
                  ? w.requests_per_second
                  : (w.output_tokens_per_second > 0 ? w.output_tokens_per_second / w.output_tokens
                                                    : 0);
          if (m->concurrency > 0 && w.concurrency > 0) {
            need =
                std::max(need, std::ceil(w.concurrency * (1 + headroom) / m->concurrency - 1e-9));
          }
          double rps = rps_demand;
          if (rps == 0 && w.concurrency > 0 && m->concurrency <= 0) {
            // Little's law: concurrency over the predicted time per request.
            const double seconds =
                (o.prediction.ttft_ms + o.prediction.tpot_ms * w.output_tokens) / 1e3;
            rps = seconds > 0 ? w.concurrency / seconds : 0;
          }
          if (m->requests_per_second > 0 && rps > 0) {
            need = std::max(need, std::ceil(rps * (1 + headroom) / m->requests_per_second - 1e-9));
          }
          if (!(need <= kMaxReplicasPerChoice)) {
            return absl::InvalidArgumentError(TooManyReplicas(req, *m, need));
          }
          replicas = static_cast<int>(need);
        } else if (!o.feasible) {
          continue;
        }
        demand.choices.push_back({it->second, o.gpus_per_replica, replicas});
      }
      if (demand.choices.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat(at, " (", demand.name,
                         "): no accelerator of this fleet can serve it (see `gpufit plan`)"));
      }
      pr.demands.push_back(std::move(demand));
      continue;
    }
    const BucketedTraffic& bt = *fw.buckets;
    if (!(bt.requests_per_second > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".buckets.requests_per_second: must be > 0"));
    }
    if (bt.buckets.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".buckets.distribution: must not be empty"));
    }
    if (bt.slice_factor < 1 || bt.slice_factor > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".buckets.slice_factor: must be in 1..64"));
    }
    double total = 0;
    for (const TrafficBucket& b : bt.buckets) total += b.fraction;
    if (!(total > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".buckets.distribution: fractions must sum to > 0"));
    }
    demand.slice_factor = bt.slice_factor;
    demand.headroom = headroom;
    std::map<std::pair<int, int>, int> choice_of;  // (resource, gpus) -> bucket choice
    std::vector<std::map<int, double>> caps(bt.buckets.size());
    for (size_t b = 0; b < bt.buckets.size(); ++b) {
      const TrafficBucket& tb = bt.buckets[b];
      const std::string bat = absl::StrCat(at, ".buckets.distribution[", b, "]");
      if (tb.input_tokens < 1 || tb.output_tokens < 1 || tb.fraction < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(bat, ": input_tokens and output_tokens must be >= 1, fraction >= 0"));
      }
      Workload copy = fw.workload;
      copy.traffic = Traffic{};
      copy.traffic.concurrency = 1;
      copy.traffic.input_tokens = tb.input_tokens;
      copy.traffic.output_tokens = tb.output_tokens;
      copy.traffic.max_context_tokens = fw.workload.traffic.max_context_tokens;
      GPUFIT_ASSIGN_OR_RETURN(ResolvedWorkload w, ResolveWorkload(copy, catalog, at));
      if (w.task != Task::kLlmInference) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".buckets: only llm-inference workloads have token buckets"));
      }
      if (b == 0) demand.name = w.name.empty() ? at : w.name;
      if (tb.fraction == 0) continue;
      const Decision d = Place(w, catalog);
      for (const Option& o : d.options) {
        const auto it = index.resource.find(o.accelerator->id);
        if (it == index.resource.end()) continue;
        const MeasuredCapacity* m =
            FindMeasured(req, w.name, static_cast<int>(b), o.accelerator->id, o.gpus_per_replica);
        double cap = 0;
        const bool measured = m != nullptr && m->requests_per_second > 0 &&
                              (o.feasible || o.rejection.cls == RejectClass::kSlo);
        if (measured) {
          cap = m->requests_per_second;
        } else if (o.feasible) {
          cap = ReplicaRequestsPerSecond(w, o);
        }
        if (cap <= 0) continue;
        // Replicas if the whole bucket ran on this choice (the solver's worst case).
        const double replicas = bt.requests_per_second * tb.fraction / total * (1 + headroom) / cap;
        if (!(replicas <= kMaxReplicasPerChoice)) {
          if (measured) {
            return absl::InvalidArgumentError(TooManyReplicas(req, *m, replicas));
          }
          continue;  // the model's capacity: this choice cannot serve the bucket
        }
        const auto key = std::make_pair(it->second, o.gpus_per_replica);
        if (!choice_of.count(key)) {
          const int c = static_cast<int>(demand.bucket_choices.size());
          choice_of[key] = c;
          demand.bucket_choices.push_back({it->second, o.gpus_per_replica, 0});
        }
        caps[b][choice_of[key]] = cap;
      }
    }
    for (size_t b = 0; b < bt.buckets.size(); ++b) {
      const TrafficBucket& tb = bt.buckets[b];
      if (tb.fraction == 0) continue;
      FleetBucket fb;
      fb.name = absl::StrCat("in", tb.input_tokens, "-out", tb.output_tokens);
      fb.requests_per_second = bt.requests_per_second * tb.fraction / total;
      fb.capacity.assign(demand.bucket_choices.size(), 0);
      for (const auto& [c, cap] : caps[b]) fb.capacity[c] = cap;
      if (caps[b].empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat(at, ".buckets.distribution[", b, "] (", fb.name,
                         "): no accelerator of this fleet serves it"));
      }
      demand.buckets.push_back(std::move(fb));
    }
    pr.demands.push_back(std::move(demand));
  }
  return pr;
}

namespace {

FleetProblem RestrictToType(const FleetProblem& pr, int type, bool* possible) {
  FleetProblem out = pr;
  *possible = true;
  auto ok = [&](int resource) { return pr.resources[resource].gpu_type == type; };
  for (FleetDemand& d : out.demands) {
    if (!d.bucketed()) {
      std::vector<FleetChoice> keep;
      for (const FleetChoice& c : d.choices) {
        if (ok(c.resource)) keep.push_back(c);
      }
      d.choices = std::move(keep);
      if (d.choices.empty()) *possible = false;
      continue;
    }
    for (FleetBucket& b : d.buckets) {
      bool any = false;
      for (size_t c = 0; c < d.bucket_choices.size(); ++c) {
        if (!ok(d.bucket_choices[c].resource)) b.capacity[c] = 0;
        any = any || b.capacity[c] > 0;
      }
      if (!any) *possible = false;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<FleetPlan> PlanFleet(const FleetRequest& req, const Catalog& catalog) {
  if (req.workloads.empty()) return absl::InvalidArgumentError("workloads: must not be empty");
  GPUFIT_ASSIGN_OR_RETURN(FleetProblem pr, BuildFleetProblem(req, catalog));
  const FleetSolution s = SolveFleet(pr, req.solve);
  if (!s.feasible) {
    return absl::FailedPreconditionError(
        "no fleet serves every workload within the GPU limits (raise gpus[].max_count)");
  }
  FleetPlan plan;
  plan.name = req.name;
  plan.cost_usd_per_hour = s.cost_usd_per_hour;
  plan.lower_bound_usd_per_hour = s.lower_bound_usd_per_hour;
  plan.gap = s.gap;
  plan.optimal = s.optimal;
  plan.method = s.method;
  plan.solve_seconds = s.solve_seconds;
  plan.heuristic_cost_usd_per_hour = s.heuristic_cost_usd_per_hour;
  for (size_t d = 0; d < pr.demands.size(); ++d) {
    const FleetDemand& dem = pr.demands[d];
    FleetWorkloadPlan wp;
    wp.name = dem.name;
    const std::string& wname = req.workloads[d].workload.name;
    if (!dem.bucketed()) {
      const FleetChoice& c = dem.choices[s.choice[d]];
      FleetAssignment a;
      a.accelerator = pr.resources[c.resource].accelerator;
      a.gpus_per_replica = c.gpus_per_replica;
      a.replicas = c.replicas;
      a.measured = FindMeasured(req, wname, -1, a.accelerator, c.gpus_per_replica) != nullptr;
      wp.assignments.push_back(a);
    } else {
      double total = 0;
      for (const FleetBucket& b : dem.buckets) total += b.requests_per_second;
      for (size_t c = 0; c < dem.bucket_choices.size(); ++c) {
        if (s.bucket_replicas[d][c] == 0) continue;
        FleetAssignment a;
        a.accelerator = pr.resources[dem.bucket_choices[c].resource].accelerator;
        a.gpus_per_replica = dem.bucket_choices[c].gpus_per_replica;
        a.replicas = s.bucket_replicas[d][c];
        double rate = 0;
        for (size_t b = 0; b < dem.buckets.size(); ++b) {
          rate += s.bucket_slices[d][b][c] * dem.buckets[b].requests_per_second / dem.slice_factor;
        }
        a.load_fraction = total > 0 ? rate / total : 0;
        wp.assignments.push_back(a);
      }
    }
    plan.workloads.push_back(std::move(wp));
  }
  for (size_t t = 0; t < pr.gpu_types.size(); ++t) {
    const FleetGpuType& type = pr.gpu_types[t];
    FleetGpuPlan g;
    g.accelerator = type.id;
    g.count = s.Gpus(static_cast<int>(t));
    if (g.count == 0) continue;
    g.whole = s.whole_gpus[t];
    g.owned_used = std::min(g.count, type.owned);
    g.price_usd_per_hour = type.price_usd_per_hour;
    g.cost_usd_per_hour = type.price_usd_per_hour * (g.count - g.owned_used);
    for (size_t k = 0; k < type.patterns.size(); ++k) {
      if (s.pattern_counts[t][k] == 0) continue;
      FleetMigLayout layout;
      layout.name = type.patterns[k].name;
      layout.gpus = s.pattern_counts[t][k];
      for (const MigPlacement& p : type.patterns[k].placements) {
        layout.instances.emplace_back(type.mig_profiles[p.profile].name, p.start);
      }
      g.mig_layouts.push_back(std::move(layout));
    }
    plan.gpus.push_back(std::move(g));
  }
  // Single-type fleets for comparison, each with a share of the time budget.
  FleetSolveOptions quick = req.solve;
  quick.time_limit_seconds = std::max(0.05, req.solve.time_limit_seconds / 4);
  for (size_t t = 0; t < pr.gpu_types.size(); ++t) {
    SingleTypeFleet single;
    single.accelerator = pr.gpu_types[t].id;
    bool possible = false;
    const FleetProblem only = RestrictToType(pr, static_cast<int>(t), &possible);
    if (possible) {
      const FleetSolution one = SolveFleet(only, quick);
      single.feasible = one.feasible;
      single.cost_usd_per_hour = one.cost_usd_per_hour;
    }
    plan.single_type.push_back(single);
  }
  return plan;
}

}  // namespace gpufit::core

#include "core/fleet_planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

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

// Measured capacities by (workload, bucket, accelerator), each list in request order: a lookup
// per (workload or bucket, option) would otherwise scan every measurement
// (kMaxFleetWorkloads x kMaxFleetBuckets x options x kMaxMeasuredCapacities).
class MeasuredIndex {
 public:
  explicit MeasuredIndex(const FleetRequest& req) {
    for (const MeasuredCapacity& m : req.measured) {
      by_key_[std::make_tuple(m.workload, m.bucket, m.accelerator)].push_back(&m);
    }
  }
  // The first measurement of (workload, bucket, accelerator) for `gpus` per replica (or any).
  const MeasuredCapacity* Find(const std::string& workload, int bucket,
                               const std::string& accelerator, int gpus) const {
    const auto it = by_key_.find(std::make_tuple(workload, bucket, accelerator));
    if (it == by_key_.end()) return nullptr;
    for (const MeasuredCapacity* m : it->second) {
      if (m->gpus_per_replica == 0 || m->gpus_per_replica == gpus) return m;
    }
    return nullptr;
  }

 private:
  std::map<std::tuple<std::string, int, std::string>, std::vector<const MeasuredCapacity*>> by_key_;
};

// Where one resource's instances sit on its GPU, for dominance between choices.
struct Footprint {
  int type = 0;
  bool whole = true;
  int memory_slices = 0;
  int compute_slices = 0;
  unsigned starts = 0;  // bit s: the instance may start at memory slot s
};

std::vector<Footprint> Footprints(const FleetProblem& pr) {
  std::vector<Footprint> out;
  for (const FleetResource& r : pr.resources) {
    Footprint f;
    f.type = r.gpu_type;
    f.whole = r.profile < 0;
    if (!f.whole) {
      const MigProfile& p = pr.gpu_types[r.gpu_type].mig_profiles[r.profile];
      f.memory_slices = p.memory_slices;
      f.compute_slices = p.compute_slices;
      for (int s : MigStartSlots(p)) f.starts |= 1u << s;
    }
    out.push_back(f);
  }
  return out;
}

// Whether an instance of `inner` fits wherever one of `outer` sits on the same GPU type: a
// whole GPU holds anything; a MIG profile holds one no larger in memory and compute slices
// whose legal starts include all of its own (fleet_mig.h: a layout is valid when memory slots
// do not overlap and compute slices add up to at most 7).
bool FitsInside(const Footprint& inner, const Footprint& outer) {
  if (inner.type != outer.type) return false;
  if (outer.whole) return true;
  if (inner.whole) return false;
  return inner.memory_slices <= outer.memory_slices &&
         inner.compute_slices <= outer.compute_slices && (outer.starts & ~inner.starts) == 0;
}

// Drops the choices of a plain demand that another choice dominates: one on the same GPU type
// whose instances fit where these sit and that needs fewer of them (GPUs for whole-GPU
// replicas), or as many strictly smaller MIG instances. Any plan using a dominated choice
// stays valid, no dearer and within every limit with the dominating one in its place (its
// instances take the same slots, or fewer whole GPUs), so the optimum is unchanged; in the
// issue's 1000-workload mix this removes ~60% of the columns. Equal whole-GPU alternatives
// (TP=1 x 4 and TP=2 x 2) are both kept: they differ in how the workload runs.
void PruneDominated(const std::vector<Footprint>& feet, std::vector<FleetChoice>& choices) {
  auto usage = [](const FleetChoice& c) {
    return static_cast<int64_t>(c.replicas) * c.gpus_per_replica;
  };
  std::vector<FleetChoice> keep;
  for (size_t i = 0; i < choices.size(); ++i) {
    const Footprint& a = feet[choices[i].resource];
    bool dominated = false;
    for (size_t j = 0; j < choices.size() && !dominated; ++j) {
      if (i == j) continue;
      const Footprint& b = feet[choices[j].resource];
      if (!FitsInside(b, a)) continue;
      const int64_t ua = usage(choices[i]), ub = usage(choices[j]);
      dominated = ub < ua || (ub == ua && !a.whole && !FitsInside(a, b));
    }
    if (!dominated) keep.push_back(choices[i]);
  }
  choices = std::move(keep);
}

// The error for a stop before any plan exists: the caller's cancellation, or the deadline.
absl::Status Stopped(const FleetStop& stop, const std::string& while_doing) {
  if (stop.Cancelled()) return absl::CancelledError("fleet: the caller cancelled");
  return absl::DeadlineExceededError(absl::StrCat(
      "solver.time_limit_seconds: the time limit (or the call's deadline) ran out",
      while_doing.empty() ? "" : " ", while_doing, "; allow more time or plan a smaller fleet"));
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

absl::Status AtMost(std::string_view path, size_t limit, size_t got) {
  if (got <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(path), ": at most ", limit, " (got ", got, ")"));
}

// The request's size within core/limits.h, before anything is placed or solved.
absl::Status CheckFleetSize(const FleetRequest& req, const Catalog& catalog) {
  GPUFIT_RETURN_IF_ERROR(AtMost("workloads", kMaxFleetWorkloads, req.workloads.size()));
  GPUFIT_RETURN_IF_ERROR(AtMost("accelerators", kMaxFleetGpuTypes, req.accelerators.size()));
  GPUFIT_RETURN_IF_ERROR(AtMost("gpus", kMaxFleetGpuTypes, req.gpus.size()));
  GPUFIT_RETURN_IF_ERROR(AtMost("measured", kMaxMeasuredCapacities, req.measured.size()));
  for (size_t i = 0; i < req.workloads.size(); ++i) {
    if (!req.workloads[i].buckets.has_value()) continue;
    const BucketedTraffic& bt = *req.workloads[i].buckets;
    const std::string at = absl::StrCat("workloads[", i, "].buckets");
    GPUFIT_RETURN_IF_ERROR(AtMost(at + ".distribution", kMaxFleetBuckets, bt.buckets.size()));
    if (bt.slice_factor < 1 || bt.slice_factor > kMaxSliceFactor) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".slice_factor: must be in 1..", kMaxSliceFactor, " (got ", bt.slice_factor, ")"));
    }
  }
  // Past the counts, the size of the problem itself (limits.h).
  const FleetSize size = MeasureFleet(req, catalog);
  if (size.cells > kMaxFleetCells) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workloads: too large to plan in one solve: ", size.cells,
        " cells (each workload, or each bucket of a bucketed one, times each GPU and MIG profile "
        "the fleet may use; at most ",
        kMaxFleetCells, "); split the fleet or list fewer accelerators"));
  }
  if (size.bucket_cells > kMaxFleetBucketCells) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workloads: too many traffic buckets to plan in one solve: ", size.bucket_cells,
        " bucket cells (buckets of bucketed workloads times each GPU and MIG profile the fleet "
        "may use; at most ",
        kMaxFleetBucketCells, "); use fewer buckets or list fewer accelerators"));
  }
  return absl::OkStatus();
}

// Every number of the request finite and in range (core/limits.h), and no id repeated, before
// any of it reaches the solver: CLP aborts the process on an objective coefficient >= 1e25.
absl::Status CheckFleetRequest(const FleetRequest& req, const Catalog& catalog) {
  GPUFIT_RETURN_IF_ERROR(CheckFleetSize(req, catalog));
  absl::flat_hash_set<std::string_view> seen;
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

FleetSize MeasureFleet(const FleetRequest& req, const Catalog& catalog) {
  int64_t resources = 0;
  auto add = [&](const Accelerator& a) {
    resources += 1 + (req.allow_mig ? static_cast<int64_t>(a.mig_profiles.size()) : 0);
  };
  if (req.accelerators.empty()) {
    for (const Accelerator& a : catalog.accelerators()) {
      if (!a.is_mig_slice()) add(a);
    }
  } else {
    for (const std::string& id : req.accelerators) {
      const Accelerator* a = catalog.FindAccelerator(id);
      if (a != nullptr && !a->is_mig_slice()) {
        add(*a);
      } else {
        ++resources;  // unknown: reported by BuildFleetProblem
      }
    }
  }
  FleetSize size;
  for (const FleetWorkload& w : req.workloads) {
    if (w.buckets.has_value()) {
      const int64_t cells = std::max<int64_t>(1, w.buckets->buckets.size()) * resources;
      size.cells += cells;
      size.bucket_cells += cells;
    } else {
      size.cells += resources;
    }
  }
  return size;
}

absl::StatusOr<FleetProblem> BuildFleetProblem(const FleetRequest& req, const Catalog& catalog,
                                               const FleetStop& stop) {
  GPUFIT_RETURN_IF_ERROR(CheckFleetRequest(req, catalog));
  const MeasuredIndex measured(req);
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
  const std::vector<Footprint> feet = Footprints(pr);
  for (size_t i = 0; i < req.workloads.size(); ++i) {
    if (stop.Expired()) {
      return Stopped(stop, absl::StrCat("while building the problem (", i, " of ",
                                        req.workloads.size(), " workloads placed)"));
    }
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
            measured.Find(w.name, -1, o.accelerator->id, o.gpus_per_replica);
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
      PruneDominated(feet, demand.choices);
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
    // bt.slice_factor is in 1..kMaxSliceFactor (CheckFleetSize).
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
      if (stop.Expired()) {
        return Stopped(stop, absl::StrCat("while building the problem (", at, ": ", b, " of ",
                                          bt.buckets.size(), " buckets placed)"));
      }
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
            measured.Find(w.name, static_cast<int>(b), o.accelerator->id, o.gpus_per_replica);
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

absl::StatusOr<FleetPlan> PlanFleet(const FleetRequest& req, const Catalog& catalog,
                                    const FleetStop& caller) {
  if (req.workloads.empty()) return absl::InvalidArgumentError("workloads: must not be empty");
  // The request's time limit covers the whole call (checked positive and finite below).
  const FleetStop stop =
      std::isfinite(req.solve.time_limit_seconds) && req.solve.time_limit_seconds > 0
          ? caller.WithDeadline(FleetStop::Clock::now() +
                                std::chrono::duration_cast<FleetStop::Clock::duration>(
                                    std::chrono::duration<double>(req.solve.time_limit_seconds)))
          : caller;
  GPUFIT_ASSIGN_OR_RETURN(FleetProblem pr, BuildFleetProblem(req, catalog, stop));
  // Large fleets leave CBC's driver (one solve at a time in the process) to small ones.
  FleetSolveOptions options = req.solve;
  options.cbc_driver = MeasureFleet(req, catalog).cells <= kMaxSmallFleetCells;
  // The plan gets three quarters of what is left and the T single-type comparisons share the
  // rest (each at most a quarter of the plan's time): they are a report, the plan is the
  // answer. CBC needs a few tens of milliseconds to do anything.
  constexpr double kMinSolveSeconds = 0.05;
  const double types = static_cast<double>(pr.gpu_types.size());
  const double main_seconds =
      std::min(req.solve.time_limit_seconds, stop.SecondsLeft()) * (types > 1 ? 0.75 : 1.0);
  options.time_limit_seconds = main_seconds;
  options.exact = req.solve.exact && main_seconds >= kMinSolveSeconds;
  const FleetSolution s = SolveFleet(pr, options, stop);
  if (s.cancelled) return Stopped(stop, "");
  if (!s.feasible) {
    if (s.time_limit_reached) return Stopped(stop, "before the solver found a plan");
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
  plan.time_limit_reached = s.time_limit_reached || (req.solve.exact && !options.exact);
  const MeasuredIndex measured(req);
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
      a.measured = measured.Find(wname, -1, a.accelerator, c.gpus_per_replica) != nullptr;
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
  // Single-type fleets for comparison, sharing what is left of the time (each at most a
  // quarter of the plan's); once it is gone, the heuristic alone (milliseconds), which only
  // the caller's cancellation stops.
  const FleetStop cancel_only(FleetStop::Clock::time_point::max(),
                              [&caller] { return caller.Cancelled(); });
  for (size_t t = 0; t < pr.gpu_types.size(); ++t) {
    if (caller.Cancelled()) return Stopped(caller, "");
    SingleTypeFleet single;
    single.accelerator = pr.gpu_types[t].id;
    bool possible = false;
    const FleetProblem only = RestrictToType(pr, static_cast<int>(t), &possible);
    if (possible) {
      FleetSolveOptions quick = options;
      quick.time_limit_seconds =
          std::min(main_seconds / 4, stop.SecondsLeft() / static_cast<double>(types - t));
      quick.exact = options.exact && quick.time_limit_seconds >= kMinSolveSeconds;
      if (!quick.exact) plan.time_limit_reached = true;
      const FleetSolution one = SolveFleet(only, quick, quick.exact ? stop : cancel_only);
      single.feasible = one.feasible;
      single.cost_usd_per_hour = one.cost_usd_per_hour;
    }
    plan.single_type.push_back(single);
  }
  return plan;
}

}  // namespace gpufit::core

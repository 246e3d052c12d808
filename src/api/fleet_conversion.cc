#include "api/fleet_conversion.h"

#include <cctype>
#include <cmath>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/proto_conversion.h"
#include "core/limits.h"
#include "core/status_macros.h"
#include "render/mig_parted.h"

namespace gpufit::api {
namespace {

namespace v1 = ::gpufit::v1;

// Proto defaults for fields the YAML format also defaults (core/fleet_planner.h).
constexpr int kDefaultSliceFactor = 4;
constexpr double kDefaultTimeLimitSeconds = 1.0;
constexpr double kDefaultRelativeGap = 0.01;

absl::Status Invalid(std::string_view path, std::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(path), ": ", std::string(reason)));
}

absl::Status AtMost(const std::string& path, int limit, int got) {
  if (got <= limit) return absl::OkStatus();
  return Invalid(path, absl::StrCat("at most ", limit, " (got ", got, ")"));
}

// The counts core/limits.h bounds, before any element is converted: a request past them is
// refused without spending time on its contents (the core checks them again, for YAML too).
absl::Status CheckCounts(const v1::FleetRequest& proto, const std::string& at) {
  GPUFIT_RETURN_IF_ERROR(
      AtMost(at + ".workloads", core::kMaxFleetWorkloads, proto.workloads_size()));
  GPUFIT_RETURN_IF_ERROR(
      AtMost(at + ".accelerators", core::kMaxFleetGpuTypes, proto.accelerators_size()));
  GPUFIT_RETURN_IF_ERROR(AtMost(at + ".gpus", core::kMaxFleetGpuTypes, proto.gpus_size()));
  GPUFIT_RETURN_IF_ERROR(AtMost(at + ".measured_capacities", core::kMaxMeasuredCapacities,
                                proto.measured_capacities_size()));
  for (int i = 0; i < proto.workloads_size(); ++i) {
    const v1::BucketedTraffic& b = proto.workloads(i).bucketed_traffic();
    const std::string bp = absl::StrCat(at, ".workloads[", i, "].bucketed_traffic");
    GPUFIT_RETURN_IF_ERROR(AtMost(bp + ".buckets", core::kMaxFleetBuckets, b.buckets_size()));
    if (b.slice_factor() < 0 || b.slice_factor() > core::kMaxSliceFactor) {
      return Invalid(bp + ".slice_factor", absl::StrCat("must be in 1..", core::kMaxSliceFactor,
                                                        " (0 = 4; got ", b.slice_factor(), ")"));
    }
  }
  return absl::OkStatus();
}

v1::FleetSolveMethod MethodToProto(const std::string& method) {
  if (method == "mip") return v1::FLEET_SOLVE_METHOD_MIP;
  if (method == "mip-timeout") return v1::FLEET_SOLVE_METHOD_MIP_TIMEOUT;
  if (method == "heuristic") return v1::FLEET_SOLVE_METHOD_HEURISTIC;
  return v1::FLEET_SOLVE_METHOD_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<core::FleetRequest> FromProto(const v1::FleetRequest& proto,
                                             std::string_view field_prefix) {
  const std::string at(field_prefix);
  GPUFIT_RETURN_IF_ERROR(CheckCounts(proto, at));
  core::FleetRequest req;
  req.name = proto.name();
  std::map<std::string, int> buckets_of;  // workload name -> buckets (-1: not bucketed)
  for (int i = 0; i < proto.workloads_size(); ++i) {
    const v1::FleetWorkload& fw = proto.workloads(i);
    const std::string wp = absl::StrCat(at, ".workloads[", i, "]");
    core::FleetWorkload w;
    GPUFIT_ASSIGN_OR_RETURN(w.workload, FromProto(fw.workload(), wp + ".workload"));
    if (w.workload.name.empty()) return Invalid(wp + ".workload.name", "required");
    if (buckets_of.count(w.workload.name)) {
      return Invalid(wp + ".workload.name",
                     absl::StrCat("duplicate workload name '", w.workload.name, "'"));
    }
    buckets_of[w.workload.name] = -1;
    if (fw.has_bucketed_traffic()) {
      const v1::BucketedTraffic& b = fw.bucketed_traffic();
      core::BucketedTraffic bt;
      bt.requests_per_second = b.requests_per_second();
      bt.slice_factor = b.slice_factor() == 0 ? kDefaultSliceFactor : b.slice_factor();
      for (const v1::TrafficBucket& tb : b.buckets()) {
        bt.buckets.push_back({tb.input_tokens(), tb.output_tokens(), tb.fraction()});
      }
      buckets_of[w.workload.name] = b.buckets_size();
      w.buckets = std::move(bt);
    }
    req.workloads.push_back(std::move(w));
  }
  req.accelerators.assign(proto.accelerators().begin(), proto.accelerators().end());
  for (int i = 0; i < proto.accelerators_size(); ++i) {
    if (proto.accelerators(i).empty()) {
      return Invalid(absl::StrCat(at, ".accelerators[", i, "]"), "must not be empty");
    }
  }
  req.allow_mig = !proto.has_allow_mig() || proto.allow_mig();
  for (int i = 0; i < proto.gpus_size(); ++i) {
    const v1::FleetGpuOptions& g = proto.gpus(i);
    const std::string gp = absl::StrCat(at, ".gpus[", i, "]");
    if (g.accelerator().empty()) return Invalid(gp + ".accelerator", "required");
    if (g.has_max_count()) {
      GPUFIT_RETURN_IF_ERROR(
          core::CheckRange(gp + ".max_count", g.max_count(), 0, core::kMaxGpuCount));
    }
    GPUFIT_RETURN_IF_ERROR(core::CheckRange(gp + ".owned", g.owned(), 0, core::kMaxGpuCount));
    if (g.has_price_usd_per_hour()) {
      GPUFIT_RETURN_IF_ERROR(core::CheckRange(gp + ".price_usd_per_hour", g.price_usd_per_hour(), 0,
                                              core::kMaxPriceUsdPerHour));
    }
    core::FleetGpuOptions o;
    o.accelerator = g.accelerator();
    o.max_count = g.has_max_count() ? g.max_count() : -1;
    o.owned = g.owned();
    o.price_usd_per_hour = g.has_price_usd_per_hour() ? g.price_usd_per_hour() : -1;
    req.gpus.push_back(std::move(o));
  }
  for (int i = 0; i < proto.measured_capacities_size(); ++i) {
    const v1::MeasuredCapacity& m = proto.measured_capacities(i);
    const std::string mp = absl::StrCat(at, ".measured_capacities[", i, "]");
    if (m.workload().empty()) return Invalid(mp + ".workload", "required");
    const auto it = buckets_of.find(m.workload());
    if (it == buckets_of.end()) {
      return absl::NotFoundError(absl::StrCat(mp, ".workload: unknown workload '", m.workload(),
                                              "' (not in fleet.workloads)"));
    }
    if (m.accelerator().empty()) return Invalid(mp + ".accelerator", "required");
    if (m.has_bucket() && (m.bucket() < 0 || m.bucket() >= it->second)) {
      return Invalid(mp + ".bucket",
                     it->second < 0
                         ? std::string("the workload has no bucketed_traffic")
                         : absl::StrCat("must be in 0..", it->second - 1, " (a bucket index)"));
    }
    if (m.gpus_per_replica() < 0) return Invalid(mp + ".gpus_per_replica", "must be >= 0");
    GPUFIT_RETURN_IF_ERROR(core::CheckRange(mp + ".requests_per_second", m.requests_per_second(), 0,
                                            core::kMaxRatePerSecond));
    GPUFIT_RETURN_IF_ERROR(
        core::CheckRange(mp + ".concurrency", m.concurrency(), 0, core::kMaxConcurrency));
    if (m.requests_per_second() == 0 && m.concurrency() == 0) {
      return Invalid(mp, "give requests_per_second or concurrency (> 0)");
    }
    core::MeasuredCapacity c;
    c.workload = m.workload();
    c.bucket = m.has_bucket() ? m.bucket() : -1;
    c.accelerator = m.accelerator();
    c.gpus_per_replica = m.gpus_per_replica();
    c.requests_per_second = m.requests_per_second();
    c.concurrency = m.concurrency();
    c.source = m.source();
    req.measured.push_back(std::move(c));
  }
  const v1::FleetSolverOptions& s = proto.solver();
  GPUFIT_RETURN_IF_ERROR(core::CheckRange(at + ".solver.time_limit_seconds", s.time_limit_seconds(),
                                          0, core::kMaxSolveSeconds));
  if (s.has_relative_gap() && !(s.relative_gap() >= 0 && s.relative_gap() < 1)) {
    return Invalid(at + ".solver.relative_gap", "must be in [0, 1)");
  }
  req.solve.time_limit_seconds =
      s.time_limit_seconds() == 0 ? kDefaultTimeLimitSeconds : s.time_limit_seconds();
  req.solve.relative_gap = s.has_relative_gap() ? s.relative_gap() : kDefaultRelativeGap;
  return req;
}

v1::FleetRequest ToProto(const core::FleetRequest& req) {
  v1::FleetRequest proto;
  proto.set_name(req.name);
  for (const core::FleetWorkload& w : req.workloads) {
    v1::FleetWorkload* fw = proto.add_workloads();
    *fw->mutable_workload() = ToProto(w.workload);
    if (w.buckets.has_value()) {
      v1::BucketedTraffic* b = fw->mutable_bucketed_traffic();
      b->set_requests_per_second(w.buckets->requests_per_second);
      b->set_slice_factor(w.buckets->slice_factor);
      for (const core::TrafficBucket& tb : w.buckets->buckets) {
        v1::TrafficBucket* p = b->add_buckets();
        p->set_input_tokens(tb.input_tokens);
        p->set_output_tokens(tb.output_tokens);
        p->set_fraction(tb.fraction);
      }
    }
  }
  for (const std::string& a : req.accelerators) proto.add_accelerators(a);
  proto.set_allow_mig(req.allow_mig);
  for (const core::FleetGpuOptions& g : req.gpus) {
    v1::FleetGpuOptions* p = proto.add_gpus();
    p->set_accelerator(g.accelerator);
    if (g.max_count >= 0) p->set_max_count(g.max_count);
    p->set_owned(g.owned);
    if (g.price_usd_per_hour >= 0) p->set_price_usd_per_hour(g.price_usd_per_hour);
  }
  for (const core::MeasuredCapacity& m : req.measured) {
    v1::MeasuredCapacity* p = proto.add_measured_capacities();
    p->set_workload(m.workload);
    if (m.bucket >= 0) p->set_bucket(m.bucket);
    p->set_accelerator(m.accelerator);
    p->set_gpus_per_replica(m.gpus_per_replica);
    p->set_requests_per_second(m.requests_per_second);
    p->set_concurrency(m.concurrency);
    p->set_source(m.source);
  }
  proto.mutable_solver()->set_time_limit_seconds(req.solve.time_limit_seconds);
  proto.mutable_solver()->set_relative_gap(req.solve.relative_gap);
  return proto;
}

v1::FleetPlan ToProto(const core::FleetPlan& plan) {
  v1::FleetPlan proto;
  proto.set_name(plan.name);
  for (const core::FleetWorkloadPlan& w : plan.workloads) {
    v1::FleetWorkloadPlan* pw = proto.add_workloads();
    pw->set_name(w.name);
    for (const core::FleetAssignment& a : w.assignments) {
      v1::FleetAssignment* pa = pw->add_assignments();
      pa->set_accelerator(a.accelerator);
      pa->set_gpus_per_replica(a.gpus_per_replica);
      pa->set_replicas(a.replicas);
      pa->set_load_fraction(a.load_fraction);
      pa->set_measured(a.measured);
    }
  }
  for (const core::FleetGpuPlan& g : plan.gpus) {
    v1::FleetGpuPlan* pg = proto.add_gpus();
    pg->set_accelerator(g.accelerator);
    pg->set_count(g.count);
    pg->set_whole(g.whole);
    pg->set_owned_used(g.owned_used);
    pg->set_price_usd_per_hour(g.price_usd_per_hour);
    pg->set_cost_usd_per_hour(g.cost_usd_per_hour);
    for (const core::FleetMigLayout& l : g.mig_layouts) {
      v1::FleetMigLayout* pl = pg->add_mig_layouts();
      pl->set_name(l.name);
      pl->set_mig_config(render::MigConfigName(g.accelerator, l.name));
      pl->set_gpus(l.gpus);
      for (const auto& [profile, start] : l.instances) {
        v1::MigInstance* pi = pl->add_instances();
        pi->set_profile(profile);
        pi->set_start(start);
      }
    }
  }
  proto.set_cost_usd_per_hour(plan.cost_usd_per_hour);
  proto.set_lower_bound_usd_per_hour(plan.lower_bound_usd_per_hour);
  proto.set_gap(plan.gap);
  proto.set_optimal(plan.optimal);
  proto.set_method(MethodToProto(plan.method));
  const double whole = std::floor(plan.solve_seconds);
  proto.mutable_solve_time()->set_seconds(static_cast<int64_t>(whole));
  proto.mutable_solve_time()->set_nanos(static_cast<int32_t>((plan.solve_seconds - whole) * 1e9));
  proto.set_heuristic_cost_usd_per_hour(plan.heuristic_cost_usd_per_hour);
  for (const core::SingleTypeFleet& s : plan.single_type) {
    v1::SingleTypeFleet* ps = proto.add_single_type_fleets();
    ps->set_accelerator(s.accelerator);
    ps->set_feasible(s.feasible);
    ps->set_cost_usd_per_hour(s.cost_usd_per_hour);
  }
  proto.set_mig_parted_config(render::MigPartedConfig(plan));
  proto.set_time_limit_reached(plan.time_limit_reached);
  return proto;
}

absl::Status FleetStatusToProtoPaths(const absl::Status& status, std::string_view field_prefix) {
  if (status.ok()) return status;
  const std::string msg(status.message());
  const std::string at(field_prefix);
  std::string out;
  if (absl::StartsWith(msg, "workloads[")) {
    const size_t close = msg.find(']');
    std::string head = msg.substr(0, close + 1);
    std::string rest = close == std::string::npos ? "" : msg.substr(close + 1);
    if (absl::StartsWith(rest, ".buckets.distribution")) {
      rest = ".bucketed_traffic.buckets" + rest.substr(std::string(".buckets.distribution").size());
    } else if (absl::StartsWith(rest, ".buckets")) {
      rest = ".bucketed_traffic" + rest.substr(std::string(".buckets").size());
    } else if (absl::StartsWith(rest, ".")) {
      rest = ".workload" + rest;
    }
    out = absl::StrCat(at, ".", head, rest);
  } else if (absl::StartsWith(msg, "workloads") || absl::StartsWith(msg, "accelerators") ||
             absl::StartsWith(msg, "gpus[") || absl::StartsWith(msg, "gpus:") ||
             absl::StartsWith(msg, "solver")) {
    out = absl::StrCat(at, ".", msg);
  } else if (absl::StartsWith(msg, "measured[") || absl::StartsWith(msg, "measured:")) {
    out = absl::StrCat(at, ".measured_capacities", msg.substr(std::string("measured").size()));
  } else {
    return status;
  }
  return absl::Status(status.code(), out);
}

}  // namespace gpufit::api

#include "render/narration.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gpufit::render {
namespace {

std::string OptionLabel(const core::Option& o) {
  const std::string id = o.accelerator != nullptr ? o.accelerator->id : "?";
  return absl::StrCat(id, " x", o.gpus_per_replica);
}

std::string FormatUsd(double usd) {
  return std::fabs(usd) < 1 ? absl::StrFormat("$%.3f", usd) : absl::StrFormat("$%.2f", usd);
}

// "1.9x more" / "the same"; `ratio` = other / best.
std::string HowMuchMore(double ratio) {
  if (!std::isfinite(ratio)) return "more";
  if (ratio < 1.005) return "the same";
  return absl::StrFormat("%.1fx more", ratio);
}

// "output tokens", "images": what usd_per_million_tokens counts for `unit`.
std::string UnitPlural(const std::string& unit) {
  return unit.empty() || unit == "token" ? "output tokens" : unit + "s";
}

std::string ExplainCost(const core::Option& best, const core::Option& next,
                        const std::string& unit) {
  // Training jobs are compared by the cost of the whole job; serving by $/hour for the target.
  if (best.training_cost_usd > 0 && next.training_cost_usd > 0) {
    return absl::StrCat("next best ", OptionLabel(next), " costs ",
                        HowMuchMore(next.training_cost_usd / best.training_cost_usd),
                        " for the job (", FormatUsd(next.training_cost_usd), " vs ",
                        FormatUsd(best.training_cost_usd), ")");
  }
  const double hourly = best.cost_usd_per_hour > 0 ? next.cost_usd_per_hour / best.cost_usd_per_hour
                                                   : std::numeric_limits<double>::quiet_NaN();
  const double per_million = best.usd_per_million_tokens > 0
                                 ? next.usd_per_million_tokens / best.usd_per_million_tokens
                                 : std::numeric_limits<double>::quiet_NaN();
  const std::string prefix = absl::StrCat("next best ", OptionLabel(next), " costs ");
  if (hourly >= 1.005) {
    return absl::StrCat(prefix, HowMuchMore(hourly), " per hour (",
                        FormatUsd(next.cost_usd_per_hour), "/h vs ",
                        FormatUsd(best.cost_usd_per_hour), "/h)");
  }
  // Same $/hour for the target (e.g. one replica of equally priced parts): the tie was
  // broken per unit of work, so say that.
  if (per_million >= 1.005) {
    return absl::StrCat(prefix, std::isfinite(hourly) ? "the same per hour but " : "",
                        HowMuchMore(per_million), " per 1M ", UnitPlural(unit), " (",
                        FormatUsd(next.usd_per_million_tokens), " vs ",
                        FormatUsd(best.usd_per_million_tokens), ")");
  }
  return absl::StrCat(prefix, "the same");
}

std::string ExplainLatency(const core::Option& best, const core::Option& next) {
  return absl::StrFormat("TPOT %.1f ms, TTFT %.0f ms; next best %s: TPOT %.1f ms, TTFT %.0f ms",
                         best.prediction.tpot_ms, best.prediction.ttft_ms, OptionLabel(next),
                         next.prediction.tpot_ms, next.prediction.ttft_ms);
}

double Throughput(const core::Option& o) {
  return o.prediction.output_tokens_per_second > 0 ? o.prediction.output_tokens_per_second
                                                   : o.prediction.items_per_second;
}

}  // namespace

std::string RejectionText(const core::Option& o) {
  const core::Rejection& r = o.rejection;
  switch (r.kind) {
    case core::RejectKind::kNone:
      return "";
    case core::RejectKind::kMemoryWeights:
      return absl::StrFormat("memory: needs %.1f GiB, has %.1f GiB usable", r.needed, r.available);
    case core::RejectKind::kMemoryContext:
      return absl::StrFormat(
          "memory: needs %.1f GiB with one %d-token sequence, has %.1f GiB usable", r.needed,
          r.detail, r.available);
    case core::RejectKind::kSloTtft:
      return absl::StrFormat("slo: TTFT %.0f ms > %.0f ms", r.needed, r.available);
    case core::RejectKind::kSloTpot:
      return absl::StrFormat("slo: TPOT %.0f ms > %.0f ms", r.needed, r.available);
    case core::RejectKind::kNoNvlink:
      return absl::StrFormat("capability: no NVLink for TP=%d", r.detail);
    case core::RejectKind::kHeadsNotDivisible:
      return absl::StrFormat("capability: attention heads do not split evenly over TP=%d",
                             r.detail);
    case core::RejectKind::kIsolation:
      return "capability: dedicated isolation needs a whole GPU, not a MIG slice";
    case core::RejectKind::kTooManyReplicas:
      return absl::StrFormat("capability: needs %.3g replicas, more than %.0f; check the traffic",
                             r.needed, r.available);
  }
  return "";
}

std::string ExplainDecision(const core::Decision& d, core::Objective objective) {
  const core::Option* best = d.recommendation();
  int feasible = 0;
  int memory = 0, slo = 0, capability = 0;
  const core::Option* next = nullptr;
  for (const core::Option& o : d.options) {
    if (o.feasible) {
      ++feasible;
      if (&o != best && next == nullptr) next = &o;
      continue;
    }
    switch (o.rejection.cls) {
      case core::RejectClass::kMemory:
        ++memory;
        break;
      case core::RejectClass::kSlo:
        ++slo;
        break;
      case core::RejectClass::kCapability:
        ++capability;
        break;
      case core::RejectClass::kNone:
        break;
    }
  }
  if (best == nullptr) {
    return absl::StrFormat(
        "nothing can serve it: all %d options rejected (%d memory, %d slo, %d capability)",
        d.options.size(), memory, slo, capability);
  }
  if (next == nullptr) {
    return absl::StrFormat("the only feasible option of %d evaluated", d.options.size());
  }
  switch (objective) {
    case core::Objective::kCost:
      return absl::StrFormat("cheapest of %d feasible options; %s", feasible,
                             ExplainCost(*best, *next, d.unit));
    case core::Objective::kLatency:
      return absl::StrFormat("lowest latency of %d feasible options (%s)", feasible,
                             ExplainLatency(*best, *next));
    case core::Objective::kThroughput:
      return absl::StrFormat(
          "highest throughput per replica of %d feasible options (%.0f/s); next best %s: %.0f/s",
          feasible, Throughput(*best), OptionLabel(*next), Throughput(*next));
  }
  return "";
}

// --- Catalog ---------------------------------------------------------------------------------

}  // namespace gpufit::render

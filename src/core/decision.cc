#include "core/decision.h"

#include "absl/strings/str_format.h"

namespace gpufit::core {

std::string_view RejectClassName(RejectClass cls) {
  switch (cls) {
    case RejectClass::kMemory:
      return "memory";
    case RejectClass::kSlo:
      return "slo";
    case RejectClass::kCapability:
      return "capability";
    case RejectClass::kNone:
      break;
  }
  return "";
}

std::string RejectionText(const Option& o) {
  const Rejection& r = o.rejection;
  switch (r.kind) {
    case RejectKind::kNone:
      return "";
    case RejectKind::kMemoryWeights:
      return absl::StrFormat("memory: needs %.1f GiB, has %.1f GiB usable", r.needed, r.available);
    case RejectKind::kMemoryContext:
      return absl::StrFormat(
          "memory: needs %.1f GiB with one %d-token sequence, has %.1f GiB usable", r.needed,
          r.detail, r.available);
    case RejectKind::kSloTtft:
      return absl::StrFormat("slo: TTFT %.0f ms > %.0f ms", r.needed, r.available);
    case RejectKind::kSloTpot:
      return absl::StrFormat("slo: TPOT %.0f ms > %.0f ms", r.needed, r.available);
    case RejectKind::kNoNvlink:
      return absl::StrFormat("capability: no NVLink for TP=%d", r.detail);
    case RejectKind::kHeadsNotDivisible:
      return absl::StrFormat("capability: attention heads do not split evenly over TP=%d",
                             r.detail);
    case RejectKind::kIsolation:
      return "capability: dedicated isolation needs a whole GPU, not a MIG slice";
    case RejectKind::kTooManyReplicas:
      return absl::StrFormat("capability: needs %.3g replicas, more than %.0f; check the traffic",
                             r.needed, r.available);
  }
  return "";
}

}  // namespace gpufit::core

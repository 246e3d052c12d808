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

}  // namespace gpufit::core

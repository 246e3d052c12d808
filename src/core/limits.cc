#include "core/limits.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace gpufit::core {
namespace {

absl::Status Invalid(std::string_view path, std::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(path), ": ", std::string(reason)));
}

}  // namespace

absl::Status CheckRange(std::string_view path, double value, double min, double max) {
  if (!std::isfinite(value)) return Invalid(path, "must be a finite number");
  if (value < min || value > max) {
    return Invalid(path, absl::StrCat("must be in [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(std::string_view path, double value, double max) {
  if (!std::isfinite(value)) return Invalid(path, "must be a finite number");
  if (!(value > 0) || value > max) {
    return Invalid(path, absl::StrCat("must be > 0 and <= ", max));
  }
  return absl::OkStatus();
}

}  // namespace gpufit::core

// Status propagation helpers. Debian 12's abseil (20220623) ships absl::Status but
// not the RETURN_IF_ERROR / ASSIGN_OR_RETURN macros, so gpufit defines them once here.
#ifndef GPUFIT_CORE_STATUS_MACROS_H_
#define GPUFIT_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GPUFIT_STATUS_CONCAT_INNER_(a, b) a##b
#define GPUFIT_STATUS_CONCAT_(a, b) GPUFIT_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` yields a non-OK absl::Status.
#define GPUFIT_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status gpufit_status_ = (expr);          \
    if (!gpufit_status_.ok()) return gpufit_status_; \
  } while (false)

// `lhs` = value of the StatusOr `rexpr`, or returns its status from the enclosing function.
#define GPUFIT_ASSIGN_OR_RETURN(lhs, rexpr) \
  GPUFIT_ASSIGN_OR_RETURN_IMPL_(GPUFIT_STATUS_CONCAT_(gpufit_statusor_, __LINE__), lhs, rexpr)
#define GPUFIT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // GPUFIT_CORE_STATUS_MACROS_H_

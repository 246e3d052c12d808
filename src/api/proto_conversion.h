// Conversions between the core's types and the public API messages (proto/gpufit/v1). Every
// adapter (CLI, gRPC, extender, KEDA) goes through these so that the same decision reads the
// same everywhere (rendering it as text, JSON or YAML is render/'s job). Stateless functions;
// thread-safe.
#ifndef GPUFIT_API_PROTO_CONVERSION_H_
#define GPUFIT_API_PROTO_CONVERSION_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/accelerator.h"
#include "core/catalog.h"
#include "core/decision.h"
#include "core/model.h"
#include "core/task.h"
#include "core/workload.h"
#include "gpufit/v1/catalog.pb.h"
#include "gpufit/v1/decision.pb.h"
#include "gpufit/v1/workload.pb.h"

namespace gpufit::api {

// --- Workload ------------------------------------------------------------------------------
// UNSPECIFIED enums mean "the default", mirroring a YAML key that is left out:
// precision -> bf16, kv_cache_precision -> 16-bit (core: nullopt), task -> the preset's
// (nullopt), objective -> cost, isolation -> shared. Zero scalars mean "not given" as in the
// core, except training.epochs 0 -> 1 and training.lora_rank 0 -> 16 (the core defaults).
// Only what the proto can carry but the core cannot is checked here (unknown enum numbers,
// empty accelerator ids); semantic checks live in core::ResolveWorkload. Errors are
// INVALID_ARGUMENT and lead with `field_prefix`.field.path.
absl::StatusOr<core::Workload> FromProto(const gpufit::v1::Workload& proto,
                                         std::string_view field_prefix = "workload");
gpufit::v1::Workload ToProto(const core::Workload& workload);

// --- Decision --------------------------------------------------------------------------------
// One option: reason via render::RejectionText, reject_class via core::RejectClassName.
// `rank` is left 0; ToProto(Decision) numbers them.
gpufit::v1::Option ToProto(const core::Option& option);

// The whole decision: options in the core's order, feasible ones ranked 1..n, rejected ones 0;
// the recommendation copied out; `explanation` from render::ExplainDecision(). `objective` is the
// one the options were ranked by (the resolved workload's) and only shapes the explanation.
// `max_options` >= 0 keeps only the first that many options (the recommendation is always
// set); -1 keeps them all.
gpufit::v1::Decision ToProto(const core::Decision& decision, core::Objective objective,
                             std::string_view catalog_version, int max_options = -1);

// --- Catalog ---------------------------------------------------------------------------------
gpufit::v1::Accelerator ToProto(const core::Accelerator& accelerator);
gpufit::v1::ModelPreset ToProto(const core::ModelPreset& preset);
gpufit::v1::Catalog ToProto(const core::Catalog& catalog);

// --- Enums -----------------------------------------------------------------------------------
gpufit::v1::Precision ToProto(core::Precision precision);
gpufit::v1::Task ToProto(core::Task task);
gpufit::v1::Objective ToProto(core::Objective objective);
gpufit::v1::Isolation ToProto(core::Isolation isolation);

}  // namespace gpufit::api

#endif  // GPUFIT_API_PROTO_CONVERSION_H_

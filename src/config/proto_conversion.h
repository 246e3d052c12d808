// Conversions between the core's types and the public API messages (proto/gpufit/v1), and the
// one place that renders a message as JSON or YAML. Every adapter (CLI, gRPC, extender) goes
// through these so that the same decision reads the same everywhere. Stateless functions;
// thread-safe.
#ifndef GPUFIT_CONFIG_PROTO_CONVERSION_H_
#define GPUFIT_CONFIG_PROTO_CONVERSION_H_

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

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace gpufit::config {

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
// One option: reason via core::RejectionText, reject_class via core::RejectClassName.
// `rank` is left 0; ToProto(Decision) numbers them.
gpufit::v1::Option ToProto(const core::Option& option);

// The whole decision: options in the core's order, feasible ones ranked 1..n, rejected ones 0;
// the recommendation copied out; `explanation` from ExplainDecision(). `objective` is the one
// the options were ranked by (the resolved workload's) and only shapes the explanation.
// `max_options` >= 0 keeps only the first that many options (the recommendation is always
// set); -1 keeps them all.
gpufit::v1::Decision ToProto(const core::Decision& decision, core::Objective objective,
                             std::string_view catalog_version, int max_options = -1);

// One line on why the recommendation won, e.g. "cheapest of 12 feasible options; next best
// a100-80gb/3g.40gb x1 costs 1.9x more per hour ($2.86/h vs $1.50/h)", or why nothing can
// serve the workload.
std::string ExplainDecision(const core::Decision& decision, core::Objective objective);

// --- Catalog ---------------------------------------------------------------------------------
gpufit::v1::Accelerator ToProto(const core::Accelerator& accelerator);
gpufit::v1::ModelPreset ToProto(const core::ModelPreset& preset);
gpufit::v1::Catalog ToProto(const core::Catalog& catalog);

// --- Enums -----------------------------------------------------------------------------------
gpufit::v1::Precision ToProto(core::Precision precision);
gpufit::v1::Task ToProto(core::Task task);
gpufit::v1::Objective ToProto(core::Objective objective);
gpufit::v1::Isolation ToProto(core::Isolation isolation);

// --- Rendering -------------------------------------------------------------------------------
// proto3 JSON with the proto field names (= the YAML keys), every scalar printed (zeros
// included, so readers need not know proto3 defaults) and indentation. Ends with a newline.
std::string ToJson(const google::protobuf::Message& message);
// The same document as YAML block style: the JSON above re-emitted by yaml-cpp, with strings
// that would read back as numbers or booleans (e.g. a version "1234") quoted.
std::string ToYaml(const google::protobuf::Message& message);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_PROTO_CONVERSION_H_

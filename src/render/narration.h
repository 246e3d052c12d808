// Decision narration: the sentences a person reads about a decision, in one place. Why an
// option was rejected ("memory: needs 38.2 GiB, has 21.6 GiB usable") and why the
// recommendation won ("cheapest of 12 feasible options; next best l4 x2 costs 1.9x more per
// hour"). The CLI, the gRPC API (Option.reason, Decision.explanation), the extender's and
// KEDA's messages all say it the same way. Pure functions; thread-safe.
#ifndef GPUFIT_RENDER_NARRATION_H_
#define GPUFIT_RENDER_NARRATION_H_

#include <string>

#include "core/decision.h"
#include "core/task.h"

namespace gpufit::render {

// "memory: needs 38.2 GiB, has 21.6 GiB usable" / "slo: TPOT 53 ms > 15 ms" /
// "capability: no NVLink for TP=2". Empty for feasible options.
std::string RejectionText(const core::Option& option);

// One line on why the recommendation won, e.g. "cheapest of 12 feasible options; next best
// a100-80gb/3g.40gb x1 costs 1.9x more per hour ($2.86/h vs $1.50/h)", or why nothing can
// serve the workload. `objective` is the one the options were ranked by.
std::string ExplainDecision(const core::Decision& decision, core::Objective objective);

}  // namespace gpufit::render

#endif  // GPUFIT_RENDER_NARRATION_H_

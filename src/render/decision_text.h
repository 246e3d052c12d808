// Human-readable (table) renderings of gpufit's answers for the terminal. JSON and YAML
// come from render::ToJson / render::ToYaml (render/proto_text.h); these are only the `--output
// table` form. Functions of their arguments; thread-safe.
#ifndef GPUFIT_RENDER_DECISION_TEXT_H_
#define GPUFIT_RENDER_DECISION_TEXT_H_

#include <ostream>
#include <string>
#include <string_view>

#include "core/catalog.h"
#include "gpufit/v1/decision.pb.h"

namespace gpufit::render {

// "Recommendation: l4 x1 GPU/replica, 3 replicas, $1.50/h ($0.077 per 1M output tokens)",
// or "Recommendation: none; ..." when nothing can serve the workload.
std::string Headline(const gpufit::v1::Decision& decision);

// `gpufit plan`: the headline, why it won, then every option ranked (rejected ones last,
// with the reason).
void RenderDecision(const gpufit::v1::Decision& decision, std::ostream& out);

// `gpufit predict`: one option as labelled lines. `unit` is what usd_per_million_tokens
// counts ("token", "image", ...).
void RenderPrediction(const gpufit::v1::Option& option, std::string_view workload_name,
                      std::string_view unit, std::ostream& out);

// `gpufit catalog`: accelerators (whole GPUs and MIG slices), then model presets.
void RenderCatalog(const core::Catalog& catalog, std::ostream& out);

}  // namespace gpufit::render

#endif  // GPUFIT_RENDER_DECISION_TEXT_H_

// Non-LLM serving (embedding, speech-to-text, image generation): throughput in items per
// second (embeddings, audio-seconds, images) and memory. Image generation is scaled from the
// seed's measured rates; embeddings and speech are compute bound and computed from FLOPs.
#ifndef GPUFIT_CORE_ITEM_MODEL_H_
#define GPUFIT_CORE_ITEM_MODEL_H_

#include <string_view>

#include "core/accelerator.h"
#include "core/catalog.h"
#include "core/resolved_workload.h"

namespace gpufit::core {

struct ItemEstimate {
  double items_per_second = 0;  // one replica, batched
  double latency_ms = 0;        // one item alone
  double resident_gib = 0;      // weights + working set of one item, per GPU
  double per_item_gib = 0;      // each further concurrent item
};

ItemEstimate EstimateItems(const ResolvedWorkload& w, const Accelerator& acc,
                           const Catalog& catalog);

// "embedding", "audio-second", "image".
std::string_view ItemUnit(const ResolvedWorkload& w);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_ITEM_MODEL_H_

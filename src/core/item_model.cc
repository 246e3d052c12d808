#include "core/item_model.h"

#include <algorithm>

#include "core/memory_model.h"
#include "core/performance_model.h"
#include "core/units.h"

namespace gpufit::core {
namespace {

// Whisper reads 30 s windows as 1500 encoder frames (reference data max_source_positions),
// i.e. 50 frames per audio second through the encoder (~41% of the parameters: 0.64B of
// 1.55B), and decodes ~3 text tokens per audio second through the decoder (the rest).
constexpr double kEncoderFramesPerAudioSecond = 50.0;
constexpr double kEncoderParameterFraction = 0.41;
constexpr double kDecodedTokensPerAudioSecond = 3.0;

// Sustained 16-bit compute of an accelerator, the yardstick for scaling measured rates.
double SustainedFp16(const Accelerator& a) { return a.fp16_tflops * a.sustained_compute_fraction; }

}  // namespace

std::string_view ItemUnit(const ResolvedWorkload& w) {
  if (w.preset != nullptr && !w.preset->item_unit.empty()) return w.preset->item_unit;
  switch (w.task) {
    case Task::kEmbedding:
      return "embedding";
    case Task::kSpeechToText:
      return "audio-second";
    case Task::kImageGeneration:
      return "image";
    default:
      return "token";
  }
}

ItemEstimate EstimateItems(const ResolvedWorkload& w, const Accelerator& acc,
                           const Catalog& catalog) {
  const ModelConstants& k = catalog.policy().model;
  ItemEstimate e;
  const double params = w.architecture.parameters_billion * 1e9;
  if (w.preset != nullptr && w.preset->resident_memory_gib > 0) {
    e.resident_gib = w.preset->resident_memory_gib;
    e.per_item_gib = w.preset->per_item_memory_gib;
  } else {
    e.resident_gib = GiBFromBytes(WeightBytes(w.architecture, w.weight_precision)) * 1.2;
    e.per_item_gib = 0.01;
  }
  const double flops = PeakFlopsPerSecond(acc, w.weight_precision, k) * k.prefill_mfu;
  switch (w.task) {
    case Task::kEmbedding: {
      // Encoder forward pass: 2 x params FLOPs per input token (reference data bge cost_model).
      const double per_item = 2.0 * params * w.input_tokens;
      e.items_per_second = flops / per_item;
      e.latency_ms = (per_item / flops + k.step_overhead_ms / 1e3) * 1e3;
      break;
    }
    case Task::kSpeechToText: {
      const double per_item = 2.0 * params *
                              (kEncoderParameterFraction * kEncoderFramesPerAudioSecond +
                               (1.0 - kEncoderParameterFraction) * kDecodedTokensPerAudioSecond);
      e.items_per_second = flops / per_item;
      // Latency of a 30 s window alone: decode steps are weight-read bound.
      const double decode_step_s =
          WeightBytes(w.architecture, w.weight_precision) * (1.0 - kEncoderParameterFraction) /
              (acc.memory_bandwidth_gbps * 1e9 * k.memory_bandwidth_utilization) +
          k.step_overhead_ms / 1e3;
      e.latency_ms =
          (30.0 * per_item / flops + 30.0 * kDecodedTokensPerAudioSecond * decode_step_s) * 1e3;
      break;
    }
    case Task::kImageGeneration:
    default: {
      // Diffusion is compute bound (reference data sdxl cost_model): scale a measured rate by
      // sustained 16-bit compute. Prefer a measurement on this accelerator, then on its MIG
      // parent (x compute share), then the first measurement on a datacenter part.
      const MeasuredRate* base = nullptr;
      const Accelerator* base_acc = nullptr;
      if (w.preset != nullptr) {
        for (const MeasuredRate& r : w.preset->measured_rates) {
          const Accelerator* a = catalog.FindAccelerator(r.accelerator_id);
          if (a == nullptr) continue;
          if (a->id == acc.id || a->id == acc.parent_id) {
            base = &r;
            base_acc = a;
            break;
          }
          if (base == nullptr || (a->sustained_compute_fraction >= 1.0 &&
                                  base_acc->sustained_compute_fraction < 1.0)) {
            base = &r;
            base_acc = a;
          }
        }
      }
      if (base != nullptr) {
        e.items_per_second = base->items_per_second * SustainedFp16(acc) / SustainedFp16(*base_acc);
      }
      e.latency_ms = e.items_per_second > 0 ? 1e3 / e.items_per_second : 0;
      break;
    }
  }
  return e;
}

}  // namespace gpufit::core

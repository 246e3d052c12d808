#include "core/performance_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/memory_model.h"

namespace gpufit::core {

double PeakFlopsPerSecond(const Accelerator& acc, Precision precision, const ModelConstants& k) {
  double tflops = acc.fp16_tflops;
  switch (precision) {
    case Precision::kFp8:
      if (acc.has_fp8()) tflops = acc.fp8_tflops;
      break;
    case Precision::kInt8:
      if (acc.int8_tops > 0) tflops = acc.int8_tops * k.int8_compute_efficiency;
      break;
    case Precision::kFp32:
      tflops = acc.fp16_tflops / 2;  // TF32 tensor rate is half the FP16 rate on A100/H100
      break;
    default:
      break;
  }
  return tflops * 1e12 * acc.sustained_compute_fraction;
}

LlmPerformanceModel::LlmPerformanceModel(const ResolvedWorkload& w, const LlmTerms& terms,
                                         const Accelerator& acc, int gpus, const ModelConstants& k)
    : w_(w), t_(terms), gpus_(gpus) {
  Init(acc, k);
}

LlmPerformanceModel::LlmPerformanceModel(const ResolvedWorkload& w, const Accelerator& acc,
                                         int gpus, const ModelConstants& k)
    : owned_terms_(std::make_unique<const LlmTerms>(LlmTerms::For(w, k))),
      w_(w),
      t_(*owned_terms_),
      gpus_(gpus) {
  Init(acc, k);
}

void LlmPerformanceModel::Init(const Accelerator& acc, const ModelConstants& k) {
  const ResolvedWorkload& w = w_;
  const int gpus = gpus_;
  const ModelArchitecture& a = w.architecture;
  const double tp_eff = gpus > 1 ? k.tensor_parallel_efficiency : 1.0;
  step_overhead_s_ = k.step_overhead_ms / 1e3;
  bandwidth_bps_ = acc.memory_bandwidth_gbps * 1e9 * k.memory_bandwidth_utilization * tp_eff;
  const double peak = PeakFlopsPerSecond(acc, w.weight_precision, k) * tp_eff;
  decode_flops_ = peak * k.decode_mfu;
  prefill_flops_ = peak * k.prefill_mfu;
  if (gpus > 1) {
    // Two all-reduces per layer (after attention and after the MLP) of hidden x 2 bytes per
    // token; a ring moves 2(n-1)/n of the buffer over each GPU's NVLink.
    comm_latency_s_ = 2.0 * a.layers * k.allreduce_latency_us / 1e6;
    const double ring = 2.0 * (gpus - 1) / gpus;
    comm_s_per_token_ = 2.0 * a.layers * a.hidden_size * 2.0 * ring / (acc.nvlink_gbps * 1e9);
  } else {
    comm_latency_s_ = 0;
    comm_s_per_token_ = 0;
  }
  prompt_prefill_s_ = PrefillSeconds(w.input_tokens, w.input_tokens);
  // Steady-state step of a dense model as a function of concurrency b (see TpotSeconds):
  //   max(a0 + a1 b, c1 b) + d0 + d1 b. Precomputed so that the placement's hot path does
  // no divisions.
  const double ctx = t_.mean_context_tokens;
  const double r = t_.prefill_per_decode;
  tpot_a0_ = t_.weight_bytes / gpus / bandwidth_bps_;
  tpot_a1_ = ctx * t_.kv_bytes_per_token / gpus / bandwidth_bps_;
  tpot_c1_ =
      ((t_.flops_per_token + t_.attention_flops_per_context_token * ctx) / decode_flops_ +
       r * (t_.flops_per_token + t_.attention_flops_per_context_token * w.input_tokens / 2.0) /
           prefill_flops_) /
      gpus;
  tpot_d0_ = step_overhead_s_ + comm_latency_s_;
  tpot_d1_ = comm_s_per_token_ * (1.0 + r);
}

double LlmPerformanceModel::WeightBytesRead(double tokens) const {
  if (t_.dense_weight_fraction >= 1.0) return t_.weight_bytes;
  // Each token routes to k of E experts: the chance an expert is untouched by n tokens is
  // (1 - k/E)^n (reference data: "at batch >= ~16 essentially all experts are touched").
  const ModelArchitecture& a = w_.architecture;
  const double miss = 1.0 - static_cast<double>(a.active_experts) / a.experts;
  const double touched = 1.0 - std::pow(miss, std::max(1.0, tokens));
  return t_.weight_bytes * (t_.dense_weight_fraction + (1.0 - t_.dense_weight_fraction) * touched);
}

double LlmPerformanceModel::StepSeconds(double batch, double context_tokens,
                                        double prefill_tokens) const {
  const double tokens = batch + prefill_tokens;
  const double bytes =
      (WeightBytesRead(tokens) + batch * context_tokens * t_.kv_bytes_per_token) / gpus_;
  const double memory_s = bytes / bandwidth_bps_;
  const double decode_flops =
      batch * (t_.flops_per_token + t_.attention_flops_per_context_token * context_tokens);
  // A prompt token attends to half its prompt on average (causal mask).
  const double prefill_flops =
      prefill_tokens *
      (t_.flops_per_token + t_.attention_flops_per_context_token * w_.input_tokens / 2.0);
  const double compute_s = (decode_flops / decode_flops_ + prefill_flops / prefill_flops_) / gpus_;
  return std::max(memory_s, compute_s) + step_overhead_s_ + comm_latency_s_ +
         comm_s_per_token_ * tokens;
}

double LlmPerformanceModel::PrefillSeconds(double tokens, double sequence_tokens) const {
  const double flops =
      tokens * (t_.flops_per_token + t_.attention_flops_per_context_token * sequence_tokens / 2.0);
  const double compute_s = flops / prefill_flops_ / gpus_;
  const double memory_s = WeightBytesRead(tokens) / gpus_ / bandwidth_bps_;
  return std::max(compute_s, memory_s) + step_overhead_s_ + comm_latency_s_ +
         comm_s_per_token_ * tokens;
}

double LlmPerformanceModel::TpotSeconds(double concurrency) const {
  if (t_.dense_weight_fraction >= 1.0) {
    const double b = concurrency;
    return std::max(tpot_a0_ + tpot_a1_ * b, tpot_c1_ * b) + tpot_d0_ + tpot_d1_ * b;
  }
  return StepSeconds(concurrency, t_.mean_context_tokens, concurrency * t_.prefill_per_decode);
}

double LlmPerformanceModel::DenseMaxConcurrencyForTpot(double tpot_s) const {
  const double budget = tpot_s - tpot_d0_;
  return std::min((budget - tpot_a0_) / (tpot_a1_ + tpot_d1_), budget / (tpot_c1_ + tpot_d1_));
}

double LlmPerformanceModel::MaxConcurrency(const Slo& slo, double limit) const {
  limit = std::floor(limit);
  if (limit < 1) return 0;
  auto ok = [&](double b) {
    const double tpot_s = TpotSeconds(b);
    if (slo.tpot_ms > 0 && tpot_s * 1e3 > slo.tpot_ms) return false;
    if (slo.ttft_ms > 0 && (prompt_prefill_s_ + 0.5 * tpot_s) * 1e3 > slo.ttft_ms) return false;
    return true;
  };
  // TPOT and TTFT grow monotonically with concurrency, so the feasible set is [1, B*].
  if (t_.dense_weight_fraction >= 1.0) {
    // Both targets bound the step time: TTFT = prefill + TPOT/2 <= t  <=>  TPOT <= 2(t - prefill).
    double tpot_s = std::numeric_limits<double>::infinity();
    if (slo.tpot_ms > 0) tpot_s = slo.tpot_ms / 1e3;
    if (slo.ttft_ms > 0) tpot_s = std::min(tpot_s, 2.0 * (slo.ttft_ms / 1e3 - prompt_prefill_s_));
    const double solved = std::floor(DenseMaxConcurrencyForTpot(tpot_s));
    if (solved >= limit && ok(limit)) return limit;
    double b = std::clamp(solved, 1.0, limit);
    // The closed form is exact up to rounding; settle the last step by evaluation.
    while (b >= 1 && !ok(b)) --b;
    while (b >= 1 && b + 1 <= limit && ok(b + 1)) ++b;
    return std::max(b, 0.0);
  }
  if (ok(limit)) return limit;
  if (!ok(1)) return 0;
  // MoE: the weights read per step depend on the batch; bisect over whole numbers.
  double lo = 1, hi = limit;  // ok(lo), !ok(hi)
  while (hi - lo > 1) {
    const double mid = std::floor((lo + hi) / 2);
    (ok(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace gpufit::core

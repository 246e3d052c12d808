#include "core/performance_model.h"

#include <algorithm>
#include <cmath>

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

LlmPerformanceModel::LlmPerformanceModel(const ResolvedWorkload& w, const Accelerator& acc,
                                         int gpus, const ModelConstants& k)
    : w_(w), gpus_(gpus) {
  const ModelArchitecture& a = w.architecture;
  const double tp_eff = gpus > 1 ? k.tensor_parallel_efficiency : 1.0;
  step_overhead_s_ = k.step_overhead_ms / 1e3;
  bandwidth_bps_ = acc.memory_bandwidth_gbps * 1e9 * k.memory_bandwidth_utilization * tp_eff;
  const double peak = PeakFlopsPerSecond(acc, w.weight_precision, k) * tp_eff;
  decode_flops_ = peak * k.decode_mfu;
  prefill_flops_ = peak * k.prefill_mfu;
  weight_bytes_ = WeightBytes(a, w.weight_precision);
  dense_weight_fraction_ = 1.0;
  if (a.is_moe()) {
    // Expert parameters: P_exp x (1 - k/E) = P - P_active, the rest is read by every token.
    const double total = a.parameters_billion * 1e9;
    const double frac_inactive = 1.0 - static_cast<double>(a.active_experts) / a.experts;
    const double expert_params = std::min(total, (total - a.active_parameters()) / frac_inactive);
    dense_weight_fraction_ = 1.0 - expert_params / total;
  }
  kv_bytes_per_token_ = KvBytesPerToken(a, w.kv_precision);
  flops_per_token_ = 2.0 * a.active_parameters();
  // Attention: QK^T and AV are 2 x 2 x heads x head_dim FLOPs per layer per context token.
  attention_flops_per_context_token_ =
      4.0 * a.layers * a.attention_heads * static_cast<double>(a.effective_head_dim());
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
  mean_context_tokens_ = KvTokensPerSequence(a, w.input_tokens + w.output_tokens / 2.0);
  prefill_per_decode_ = static_cast<double>(w.input_tokens) / w.output_tokens;
}

double LlmPerformanceModel::WeightBytesRead(double tokens) const {
  if (dense_weight_fraction_ >= 1.0) return weight_bytes_;
  // Each token routes to k of E experts: the chance an expert is untouched by n tokens is
  // (1 - k/E)^n (reference data: "at batch >= ~16 essentially all experts are touched").
  const ModelArchitecture& a = w_.architecture;
  const double miss = 1.0 - static_cast<double>(a.active_experts) / a.experts;
  const double touched = 1.0 - std::pow(miss, std::max(1.0, tokens));
  return weight_bytes_ * (dense_weight_fraction_ + (1.0 - dense_weight_fraction_) * touched);
}

double LlmPerformanceModel::StepSeconds(double batch, double context_tokens,
                                        double prefill_tokens) const {
  const double tokens = batch + prefill_tokens;
  const double bytes =
      (WeightBytesRead(tokens) + batch * context_tokens * kv_bytes_per_token_) / gpus_;
  const double memory_s = bytes / bandwidth_bps_;
  const double decode_flops =
      batch * (flops_per_token_ + attention_flops_per_context_token_ * context_tokens);
  // A prompt token attends to half its prompt on average (causal mask).
  const double prefill_flops =
      prefill_tokens *
      (flops_per_token_ + attention_flops_per_context_token_ * w_.input_tokens / 2.0);
  const double compute_s = (decode_flops / decode_flops_ + prefill_flops / prefill_flops_) / gpus_;
  return std::max(memory_s, compute_s) + step_overhead_s_ + comm_latency_s_ +
         comm_s_per_token_ * tokens;
}

double LlmPerformanceModel::PrefillSeconds(double tokens, double sequence_tokens) const {
  const double flops =
      tokens * (flops_per_token_ + attention_flops_per_context_token_ * sequence_tokens / 2.0);
  const double compute_s = flops / prefill_flops_ / gpus_;
  const double memory_s = WeightBytesRead(tokens) / gpus_ / bandwidth_bps_;
  return std::max(compute_s, memory_s) + step_overhead_s_ + comm_latency_s_ +
         comm_s_per_token_ * tokens;
}

double LlmPerformanceModel::TpotSeconds(double concurrency) const {
  return StepSeconds(concurrency, mean_context_tokens_, concurrency * prefill_per_decode_);
}

double LlmPerformanceModel::TtftSeconds(double concurrency) const {
  return PrefillSeconds(w_.input_tokens, w_.input_tokens) + 0.5 * TpotSeconds(concurrency);
}

double LlmPerformanceModel::MaxConcurrency(const Slo& slo, double limit) const {
  limit = std::floor(limit);
  if (limit < 1) return 0;
  // TPOT and TTFT grow monotonically with concurrency, so the feasible set is [1, B*].
  // The step time is piecewise linear in B (dense models) but not for MoE, so a bisection
  // over whole numbers serves both: at most ~20 evaluations for the largest limits.
  auto ok = [&](double b) {
    if (slo.tpot_ms > 0 && TpotSeconds(b) * 1e3 > slo.tpot_ms) return false;
    if (slo.ttft_ms > 0 && TtftSeconds(b) * 1e3 > slo.ttft_ms) return false;
    return true;
  };
  if (ok(limit)) return limit;
  if (!ok(1)) return 0;
  double lo = 1, hi = limit;  // ok(lo), !ok(hi)
  while (hi - lo > 1) {
    const double mid = std::floor((lo + hi) / 2);
    (ok(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace gpufit::core

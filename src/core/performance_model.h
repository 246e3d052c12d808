// LLM serving performance on one replica (one GPU, or a tensor-parallel group over NVLink),
// modelled the way vLLM runs it: continuous batching with chunked prefill. One engine step
// reads the weights once (memory bound at small batch) and does the GEMMs of every token in
// the step (compute bound at large batch), plus a fixed overhead and, with TP, all-reduces.
//   step(B) = max(bytes_read / (BW x MBU), flops / (peak x sustained x MFU)) + overhead + comm
// Formulas: tests/testdata/data/reference-gpu-model-data.yaml `throughput_model`. Constructed per
// (workload, accelerator, TP degree); cheap; thread-compatible (const methods only).
#ifndef GPUFIT_CORE_PERFORMANCE_MODEL_H_
#define GPUFIT_CORE_PERFORMANCE_MODEL_H_

#include <memory>

#include "core/accelerator.h"
#include "core/llm_terms.h"
#include "core/policy.h"
#include "core/resolved_workload.h"

namespace gpufit::core {

// Peak dense tensor throughput (FLOP/s) one GPU offers the workload's precision: FP8 at FP8
// rate only on hardware that has it (else weight-only FP8 runs 16-bit GEMMs, as vLLM's Marlin
// kernels do on Ampere); INT8 W8A8 at the INT8 rate x int8_compute_efficiency; FP32 at half
// the 16-bit tensor rate (TF32).
double PeakFlopsPerSecond(const Accelerator& acc, Precision precision, const ModelConstants& k);

class LlmPerformanceModel {
 public:
  // `terms` must outlive the model.
  LlmPerformanceModel(const ResolvedWorkload& w, const LlmTerms& terms, const Accelerator& acc,
                      int gpus, const ModelConstants& k);
  // Convenience for one-off use (tests, validation): computes the terms itself.
  LlmPerformanceModel(const ResolvedWorkload& w, const Accelerator& acc, int gpus,
                      const ModelConstants& k);

  // One engine step: `batch` sequences decode one token each at mean context `context_tokens`,
  // and `prefill_tokens` prompt tokens of other sequences are processed in the same step.
  double StepSeconds(double batch, double context_tokens, double prefill_tokens) const;
  // Prefill of `tokens` prompt tokens in one pass (sequences of `sequence_tokens` each).
  double PrefillSeconds(double tokens, double sequence_tokens) const;

  // Steady state at `concurrency` requests in flight with the workload's mean input/output:
  // each step decodes `concurrency` tokens and prefills concurrency x input/output prompt
  // tokens (every request's prompt is processed once per output_tokens steps).
  double TpotSeconds(double concurrency) const;
  // Prefill of one prompt plus, on average, half a running step before it is scheduled.
  double TtftSeconds(double concurrency) const {
    return TtftSecondsForTpot(TpotSeconds(concurrency));
  }
  double TtftSecondsForTpot(double tpot_s) const { return prompt_prefill_s_ + 0.5 * tpot_s; }
  double OutputTokensPerSecond(double concurrency) const {
    return concurrency / TpotSeconds(concurrency);
  }
  // Largest whole concurrency in [0, limit] with TPOT and TTFT within the SLO (0 = none).
  double MaxConcurrency(const Slo& slo, double limit) const;

 private:
  // Bytes of weights read in a step that processes `tokens` tokens (MoE: experts touched).
  double WeightBytesRead(double tokens) const;
  // Largest concurrency with TpotSeconds(b) <= tpot_s, solved in closed form: for dense models
  // the steady-state step is max(a0 + a1 b, c1 b) + d0 + d1 b. Not valid for MoE.
  double DenseMaxConcurrencyForTpot(double tpot_s) const;

  void Init(const Accelerator& acc, const ModelConstants& k);

  std::unique_ptr<const LlmTerms> owned_terms_;  // only set by the convenience constructor
  const ResolvedWorkload& w_;
  const LlmTerms& t_;
  int gpus_;
  double step_overhead_s_;
  double bandwidth_bps_;     // per GPU, achieved
  double decode_flops_;      // per GPU, achieved in decode
  double prefill_flops_;     // per GPU, achieved in prefill
  double comm_latency_s_;    // per step, TP all-reduce latency (0 without TP)
  double comm_s_per_token_;  // per token in a step, TP all-reduce transfer
  double prompt_prefill_s_;  // PrefillSeconds(input, input), constant per workload
  // Dense steady-state step: max(a0 + a1 b, c1 b) + d0 + d1 b seconds at concurrency b.
  double tpot_a0_ = 0, tpot_a1_ = 0, tpot_c1_ = 0, tpot_d0_ = 0, tpot_d1_ = 0;
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_PERFORMANCE_MODEL_H_

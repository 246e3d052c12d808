// Policy: the efficiency constants of the performance model and the planning defaults.
// Every default below cites its source; a catalog file may override any of them.
#ifndef GPUFIT_CORE_POLICY_H_
#define GPUFIT_CORE_POLICY_H_

namespace gpufit::core {

struct ModelConstants {
  // Achieved fraction of peak memory bandwidth in decode. Reference data suggests 0.75
  // (suggested_starting_constants.MBU_decode); device-to-device copies reach 0.83-0.90.
  double memory_bandwidth_utilization = 0.80;
  // Achieved fraction of peak tensor throughput in decode and prefill GEMMs. Reference data
  // suggested_starting_constants: MFU_decode_gemm 0.5, MFU_prefill 0.6.
  double decode_mfu = 0.5;
  double prefill_mfu = 0.6;
  // Training MFU (Megatron/PaLM-class stacks report 0.35-0.55 on A100; 0.4 middle).
  double training_mfu = 0.4;
  // Fixed per-step cost: kernel launches, sampling, scheduler. Reference data: 1.5-2.5 ms.
  double step_overhead_ms = 2.0;
  // Bandwidth and compute efficiency with tensor parallelism over NVLink (reference data:
  // "multiply MBU by ~0.75-0.85 for TP2-4 over NVLink").
  double tensor_parallel_efficiency = 0.85;
  // Latency of one NVLink all-reduce (two per layer per step).
  double allreduce_latency_us = 8.0;
  // Fraction of the INT8 tensor peak that INT8 models reach. 0.5 = weight-only INT8 (W8A16:
  // 8-bit weights, 16-bit GEMMs - GPTQ/AWQ 8-bit and bitsandbytes in vLLM), which is the
  // common path and runs at the FP16 rate on every catalog GPU (INT8 peak = 2 x FP16). W8A8
  // SmoothQuant kernels reach more (set ~0.8). Seed: FP8 runs "~20% faster than INT8 on the
  // same hardware" (L4) - equal when weight-read bound, 2x when compute bound.
  double int8_compute_efficiency = 0.5;
  // vLLM gpu_memory_utilization (0.90 in vLLM <= 0.10; reference data vllm_rule).
  double gpu_memory_utilization = 0.90;
  // CUDA context + NCCL + CUDA graphs per GPU (reference data: 1.0-2.5 GiB per GPU).
  double runtime_overhead_gib = 1.0;
  // vLLM scheduler defaults: max_num_seqs 256, max_num_batched_tokens 2048 (chunked prefill).
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
};

struct Policy {
  ModelConstants model;
  // Replicas = ceil(target x (1 + headroom) / per-replica capacity). 10% absorbs bursts
  // without doubling cost on small fleets.
  double replica_headroom = 0.10;
  // Seed: "Annual power cost per GPU (at $0.10/kWh, 24/7)".
  double energy_usd_per_kwh = 0.10;
  // Defaults for traffic fields a workload leaves out (vLLM benchmark-style chat shape).
  int default_input_tokens = 512;
  int default_output_tokens = 256;
  // Training defaults.
  double default_dataset_tokens = 100e6;
  int default_micro_batch_size = 8;
  int default_sequence_tokens = 2048;
};

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_POLICY_H_

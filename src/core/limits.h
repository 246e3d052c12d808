// The finite, sane range of every number that reaches the core's arithmetic or the fleet
// solver, in one table. Each validation path (catalog, workload, fleet request, measured
// capacities) checks its inputs against these once, so nothing past it needs to ask again.
//
// Why bounds and not just `>= 0`: IEEE infinities and huge values pass `!(x >= 0)` and then
// poison arithmetic (Inf - Inf = NaN, 1e300 * 1e300 = Inf) or abort the solver: CLP asserts
// |objective coefficient| < 1e25 and calls abort(). The bounds are orders of magnitude above
// anything real, so no honest input meets them, and far enough below the solver's limits that
// products of two bounded values stay finite and inside them.
#ifndef GPUFIT_CORE_LIMITS_H_
#define GPUFIT_CORE_LIMITS_H_

#include <string_view>

#include "absl/status/status.h"

namespace gpufit::core {

// --- Traffic ---
// Concurrent requests of one workload. The largest public fleets serve ~1e5 concurrent chats.
inline constexpr double kMaxConcurrency = 1e7;
// Requests or tokens per second of one workload (also caps measured capacities).
inline constexpr double kMaxRatePerSecond = 1e12;
// Tokens in one request or context window; the longest public context windows are 1e7.
inline constexpr int kMaxTokens = 10'000'000;
// Tokens in a training dataset (the largest public pre-training runs use ~3e13).
inline constexpr double kMaxDatasetTokens = 1e15;
// Accelerator ids one workload may list (the default catalog has ~40 GPUs and slices); a list
// is also rejected if it repeats an id, which would only split the solver's time.
inline constexpr int kMaxAcceleratorIds = 256;

// Parameters of one model, billions (the largest public models have ~2e3).
inline constexpr double kMaxParametersBillion = 1e5;

// --- Money and counts ---
// $/h for one GPU. The dearest public on-demand GPU price is ~$15/h (H200, 2026 lists);
// 1e4 leaves room for any currency or node price typed by mistake, and with up to
// kMaxGpuCount GPUs an objective stays <= 1e10, far below CLP's 1e25 assertion.
inline constexpr double kMaxPriceUsdPerHour = 1e4;
// $ per kWh of electricity (retail prices are ~0.05-0.5).
inline constexpr double kMaxEnergyUsdPerKwh = 100;
// GPUs of one type a fleet owns or may buy (fleet gpus[].owned, gpus[].max_count).
inline constexpr int kMaxGpuCount = 1'000'000;

// Weight of one traffic bucket; weights are normalised to fractions of the workload's rate.
inline constexpr double kMaxBucketWeight = 1e6;
// Solver time a fleet request may ask for; gpufitd caps it further (--fleet-solve-seconds).
inline constexpr double kMaxSolveSeconds = 3600;

// --- Hardware (catalog) ---
// Upper bounds for catalog figures, ~100x today's largest (H200: 141 GB HBM3e, 4.8 TB/s,
// 1,979 dense FP8 TFLOPS, 700 W, NVLink 900 GB/s; NVIDIA datasheets).
inline constexpr double kMaxMemoryGib = 1e5;
inline constexpr double kMaxBandwidthGbps = 1e6;  // memory or interconnect, GB/s
inline constexpr double kMaxTflops = 1e6;         // any precision, dense
inline constexpr double kMaxWatts = 1e5;
// Milliseconds and GiB of model overheads (step overhead, all-reduce latency, runtime memory).
inline constexpr double kMaxOverheadMs = 1e4;
inline constexpr double kMaxOverheadGib = 1e4;
// Replica headroom as a fraction (0.2 = 20% spare); 100 = 101x the traffic.
inline constexpr double kMaxHeadroom = 100;

// OK if `value` is finite and in [min, max]; else InvalidArgument "PATH: must be ...", naming
// the range. NaN and infinities are "must be a finite number".
absl::Status CheckRange(std::string_view path, double value, double min, double max);

// OK if `value` is finite and in (0, max].
absl::Status CheckPositive(std::string_view path, double value, double max);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_LIMITS_H_

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

// --- Fleet problem size ---
// A fleet plan is a mixed-integer program with about one integer column per (workload or
// traffic bucket) x (GPU or MIG profile it may run on): its *cells*. CBC's memory and the time
// to a good plan grow with them; bucketed cells cost most (continuous-slice relaxations and
// several CBC runs: ~2 KB of CBC memory per column against ~1 KB for plain workloads, whose
// dominated choices are also pruned first). Measured with bench/fleet_size_bench on the
// default catalog, 10 s limit (docs/fleet-planning.md "Fleet size limits"): the largest
// request these bounds allow peaks at a few tens of MB of solver memory. The counts below are
// far above real fleets and bound the work done before the cells can be counted.
//
// Workloads in one fleet: the largest fleets have 1000.
inline constexpr int kMaxFleetWorkloads = 1000;
// Request-size buckets of one workload: Mélange's instances use 4x4 to 12x12 (144).
inline constexpr int kMaxFleetBuckets = 256;
// Slices each bucket's rate is cut into (Mélange uses 1-8).
inline constexpr int kMaxSliceFactor = 64;
// GPU types one fleet may buy (accelerators[], gpus[]); the default catalog has 8.
inline constexpr int kMaxFleetGpuTypes = 64;
// Measured capacities in one fleet: every workload measured on ten accelerators.
inline constexpr int kMaxMeasuredCapacities = 10'000;
// Cells: Σ over workloads of (buckets, or 1) x the fleet's GPUs and MIG profiles. 1000
// plain workloads over the full default catalog (32 GPUs and profiles) are 32,000.
inline constexpr int kMaxFleetCells = 32'768;
// Of those, the cells of bucketed workloads: 256 buckets over the full catalog.
inline constexpr int kMaxFleetBucketCells = 8'192;
// Up to this many cells a fleet is *small*: CBC's full driver solves it (cuts and heuristics;
// one such solve at a time in the process), and gpufitd runs it in the small-fleet lane.
// Larger fleets get CBC's reentrant branch and bound and gpufitd's large-fleet lane.
inline constexpr int kMaxSmallFleetCells = 4'096;

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

// Fleet size against solver cost: how time and memory grow with a PlanFleet's size, up to the
// bounds of core/limits.h, on the full default catalog (8 GPUs, 32 GPUs and MIG profiles) with
// gpufitd's 10 s limit for the whole call (GPUFIT_FLEET_SECONDS changes it). The source of the
// bounds and of docs/fleet-planning.md "Fleet size limits".
//  - BM_PlainFleet/N: N plain workloads (the bench_fleet mix of chat presets), N x 32 cells;
//    1000 is kMaxFleetWorkloads (32,000 cells, near kMaxFleetCells).
//  - BM_BucketedFleet/B: one workload with B request-size buckets, B x 32 bucket cells; 256 is
//    kMaxFleetBuckets and kMaxFleetBucketCells.
//  - BM_MixedFleet: 744 plain workloads and one of 256 buckets, 32,000 cells: both at once.
// Each case is one core::PlanFleet call (problem, plan, single-type comparisons). Counters:
// seconds (the whole call), peak_mib (growth of this process's peak resident set during the
// call: the solver's memory; freed memory is returned to the system first, and the peak is
// reset through /proc/self/clear_refs), cells, driver (1 = CBC's driver, the small lane),
// cost, gap, stopped (time_limit_reached). A report, not a test: nothing here asserts.
#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "benchmark/benchmark.h"
#include "config/catalog_loader.h"
#include "core/fleet_planner.h"
#include "core/limits.h"

namespace gpufit {
namespace {

double Seconds() {
  const char* env = std::getenv("GPUFIT_FLEET_SECONDS");
  return env != nullptr ? std::atof(env) : 10.0;
}

int64_t StatusKib(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + std::string(key).size());
  }
  return -1;
}

core::FleetWorkload Plain(int i) {
  core::FleetWorkload fw;
  fw.workload.name = "w" + std::to_string(i);
  fw.workload.model = i % 2 == 0 ? "llama-3-8b" : "mistral-7b";
  fw.workload.precision = i % 3 == 0 ? core::Precision::kFp8 : core::Precision::kBf16;
  fw.workload.traffic.concurrency = 1 + (i * 7) % 40;
  fw.workload.traffic.input_tokens = 256 << (i % 4);
  fw.workload.traffic.output_tokens = 128 << (i % 3);
  fw.workload.slo.tpot_ms = 50 + 10 * (i % 5);
  return fw;
}

core::FleetWorkload Bucketed(int buckets) {
  core::FleetWorkload fw;
  fw.workload.name = "bucketed";
  fw.workload.model = "llama-3-8b";
  fw.workload.precision = core::Precision::kFp8;
  fw.workload.slo.tpot_ms = 60;
  core::BucketedTraffic bt;
  bt.requests_per_second = 97;
  bt.slice_factor = 4;
  for (int i = 0; i < buckets; ++i) {
    bt.buckets.push_back({64 + (i * 37) % 4000, 32 + (i * 53) % 1000, 1.0 + (i * 7) % 5});
  }
  fw.buckets = bt;
  return fw;
}

void Run(benchmark::State& state, const core::FleetRequest& fleet) {
  const auto catalog = config::DefaultCatalog();
  core::FleetRequest req = fleet;
  req.solve.time_limit_seconds = Seconds();
  for (auto _ : state) {
    malloc_trim(0);
    { std::ofstream("/proc/self/clear_refs") << "5"; }
    const int64_t before_kib = StatusKib("VmRSS:");
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<core::FleetPlan> plan = core::PlanFleet(req, *catalog);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!plan.ok()) {
      state.SkipWithError(std::string(plan.status().message()).c_str());
      return;
    }
    const core::FleetSize size = core::MeasureFleet(req, *catalog);
    state.counters["seconds"] = seconds;
    state.counters["peak_mib"] = static_cast<double>(StatusKib("VmHWM:") - before_kib) / 1024;
    state.counters["cells"] = static_cast<double>(size.cells);
    state.counters["driver"] = size.cells <= core::kMaxSmallFleetCells ? 1 : 0;
    state.counters["cost"] = plan->cost_usd_per_hour;
    state.counters["gap"] = plan->gap;
    state.counters["stopped"] = plan->time_limit_reached ? 1 : 0;
  }
}

void BM_PlainFleet(benchmark::State& state) {
  core::FleetRequest req;
  for (int i = 0; i < state.range(0); ++i) req.workloads.push_back(Plain(i));
  Run(state, req);
}
BENCHMARK(BM_PlainFleet)
    ->Arg(100)
    ->Arg(128)
    ->Arg(250)
    ->Arg(500)
    ->Arg(core::kMaxFleetWorkloads)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_BucketedFleet(benchmark::State& state) {
  core::FleetRequest req;
  req.workloads.push_back(Bucketed(static_cast<int>(state.range(0))));
  Run(state, req);
}
BENCHMARK(BM_BucketedFleet)
    ->Arg(32)
    ->Arg(64)
    ->Arg(128)
    ->Arg(core::kMaxFleetBuckets)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_MixedFleet(benchmark::State& state) {
  core::FleetRequest req;
  for (int i = 0; i < 744; ++i) req.workloads.push_back(Plain(i));
  req.workloads.push_back(Bucketed(core::kMaxFleetBuckets));
  Run(state, req);
}
BENCHMARK(BM_MixedFleet)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpufit

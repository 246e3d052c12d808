// Google Benchmark of one full placement decision over the default catalog (44 options:
// 8 GPUs x tensor-parallel degrees + 24 MIG slices) for the chat workload of
// docs/workload-format.md.
//
// Baseline measured in the same run: BM_ResolveWorkload (validation + defaults only), so the
// report reads as a ratio that survives a slower or busier machine. Run with
//   build/bench/placement_bench --benchmark_counters_tabular=true
// and compare BM_PlaceFullCatalog to BM_ResolveWorkload.
#include <memory>

#include "benchmark/benchmark.h"
#include "config/catalog_loader.h"
#include "core/placement.h"

namespace gpufit {
namespace {

core::Workload ChatWorkload() {
  core::Workload w;
  w.name = "chat-llama3-8b";
  w.model = "llama-3-8b";
  w.precision = core::Precision::kFp8;
  w.traffic.concurrency = 50;
  w.traffic.input_tokens = 512;
  w.traffic.output_tokens = 256;
  w.traffic.max_context_tokens = 8192;
  w.slo.ttft_ms = 2000;
  w.slo.tpot_ms = 100;
  return w;
}

void BM_ResolveWorkload(benchmark::State& state) {
  const auto catalog = config::DefaultCatalog();
  const core::Workload w = ChatWorkload();
  for (auto _ : state) {
    auto r = core::ResolveWorkload(w, *catalog);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ResolveWorkload);

// Place() on an already resolved workload: the decision itself.
void BM_PlaceFullCatalog(benchmark::State& state) {
  const auto catalog = config::DefaultCatalog();
  const core::ResolvedWorkload w = core::ResolveWorkload(ChatWorkload(), *catalog).value();
  size_t options = 0;
  for (auto _ : state) {
    core::Decision d = core::Place(w, *catalog);
    options = d.options.size();
    benchmark::DoNotOptimize(d);
  }
  state.counters["options"] = static_cast<double>(options);
}
BENCHMARK(BM_PlaceFullCatalog);

// Resolve + Place, what a gRPC call or the CLI pays before serialisation.
void BM_ResolveAndPlaceFullCatalog(benchmark::State& state) {
  const auto catalog = config::DefaultCatalog();
  const core::Workload w = ChatWorkload();
  for (auto _ : state) {
    auto d = core::PlaceWorkload(w, *catalog);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_ResolveAndPlaceFullCatalog);

// The seed's two-GPU world (L4 vs A100 80GB, TP degrees included).
void BM_PlaceSeedPair(benchmark::State& state) {
  const auto catalog = config::DefaultCatalog();
  core::Workload workload = ChatWorkload();
  workload.accelerators = {"l4", "a100-80gb"};
  const core::ResolvedWorkload w = core::ResolveWorkload(workload, *catalog).value();
  for (auto _ : state) {
    core::Decision d = core::Place(w, *catalog);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_PlaceSeedPair);

}  // namespace
}  // namespace gpufit

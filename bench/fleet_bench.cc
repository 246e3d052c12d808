// Fleet planning: plan cost, proven bound, gap and solve time (the performance goal:
// within 1% of optimal in under a second for 100 workloads and every bucketed instance).
//  - BM_FleetMix/N: N = 10, 100, 1000 workloads over the full default catalog (every GPU,
//    MIG allowed), a deterministic mix of the example workloads and the catalog's LLM presets
//    at varied precision, traffic and latency targets.
//  - BM_Melange/<file>/<mode>: every bucketed instance of ../shared/data/fleet-instances,
//    without MIG (`nomig`: slice types dropped), with slices bought freely (`free`, the
//    file's own model) and carved from physical A100s (`physical`).
// Each case runs once (a solve is the unit of work, and CBC's time limit, not the iteration
// count, bounds it); the counters carry the answer. This is a report, not a test: nothing
// here asserts on time.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "config/catalog_loader.h"
#include "config/melange_instance.h"
#include "config/workload_loader.h"
#include "config/yaml_reader.h"
#include "core/fleet_planner.h"
#include "core/fleet_solver.h"
#include "core/placement.h"

namespace gpufit {
namespace {

const std::string kSourceDir = GPUFIT_BENCH_SOURCE_DIR;

// Serving workloads every catalog run can place: the inference examples, then presets.
std::vector<core::Workload> WorkloadPool(const core::Catalog& catalog) {
  std::vector<core::Workload> pool;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kSourceDir + "/examples")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    absl::StatusOr<core::Workload> w = config::LoadWorkloadFile(f);
    if (w.ok()) pool.push_back(*w);
  }
  const core::Precision precisions[] = {core::Precision::kFp8, core::Precision::kInt4,
                                        core::Precision::kBf16, core::Precision::kInt8};
  int i = 0;
  for (const core::ModelPreset& p : catalog.presets()) {
    if (p.task != core::Task::kLlmInference) continue;
    for (int v = 0; v < 4; ++v, ++i) {
      core::Workload w;
      w.model = p.id;
      w.precision = precisions[(i + v) % 4];
      w.traffic.concurrency = 1 + (i * 7) % 40;
      w.traffic.input_tokens = 256 << (i % 4);
      w.traffic.output_tokens = 128 << (i % 3);
      w.slo.tpot_ms = 50 + 10 * (i % 5);
      pool.push_back(w);
    }
  }
  // Keep what the core can serve on its own (a fleet with an unservable workload has no plan).
  std::vector<core::Workload> servable;
  for (const core::Workload& w : pool) {
    absl::StatusOr<core::Decision> d = core::PlaceWorkload(w, catalog);
    if (!d.ok()) continue;
    const bool any = std::any_of(d->options.begin(), d->options.end(),
                                 [](const core::Option& o) { return o.feasible; });
    if (any && core::ResolveWorkload(w, catalog).value().task == core::Task::kLlmInference) {
      servable.push_back(w);
    }
  }
  return servable;
}

void Report(benchmark::State& state, double cost, double bound, double gap, bool optimal,
            double heuristic, double seconds) {
  state.counters["cost_usd_h"] = cost;
  state.counters["bound_usd_h"] = bound;
  state.counters["gap_pct"] = 100 * gap;
  state.counters["optimal"] = optimal ? 1 : 0;
  state.counters["warm_usd_h"] = heuristic;
  state.counters["solve_s"] = seconds;
}

void BM_FleetMix(benchmark::State& state) {
  const std::shared_ptr<const core::Catalog> catalog = config::DefaultCatalog();
  static const std::vector<core::Workload> pool = WorkloadPool(*catalog);
  core::FleetRequest req;
  req.name = "mix";
  for (int i = 0; i < state.range(0); ++i) {
    core::FleetWorkload fw;
    fw.workload = pool[i % pool.size()];
    fw.workload.name = "w" + std::to_string(i);
    // Vary the load of repeated workloads so that no two are identical.
    fw.workload.traffic.concurrency =
        std::max(1.0, fw.workload.traffic.concurrency) * (1 + (i / pool.size()) % 3);
    req.workloads.push_back(std::move(fw));
  }
  for (auto _ : state) {
    absl::StatusOr<core::FleetProblem> pr = core::BuildFleetProblem(req, *catalog);
    if (!pr.ok()) {
      state.SkipWithError(std::string(pr.status().message()).c_str());
      return;
    }
    const core::FleetSolution s = core::SolveFleet(*pr, req.solve);
    Report(state, s.cost_usd_per_hour, s.lower_bound_usd_per_hour, s.gap, s.optimal,
           s.heuristic_cost_usd_per_hour, s.solve_seconds);
    state.counters["pool"] = static_cast<double>(pool.size());
  }
}
BENCHMARK(BM_FleetMix)->Arg(10)->Arg(100)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Melange(benchmark::State& state, const std::string& path, config::MigMode mode) {
  absl::StatusOr<std::string> text = config::internal::ReadFileToString(path);
  if (!text.ok()) {
    state.SkipWithError("cannot read instance");
    return;
  }
  absl::StatusOr<core::FleetProblem> pr = config::ParseMelangeInstance(*text, path, mode);
  if (!pr.ok()) {
    state.SkipWithError(std::string(pr.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    const core::FleetSolution s = core::SolveFleet(*pr, core::FleetSolveOptions{});
    Report(state, s.cost_usd_per_hour, s.lower_bound_usd_per_hour, s.gap, s.optimal,
           s.heuristic_cost_usd_per_hour, s.solve_seconds);
  }
}

int RegisterMelange() {
  const std::filesystem::path dir = kSourceDir + "/../shared/data/fleet-instances";
  if (!std::filesystem::exists(dir)) return 0;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    const std::string stem = std::filesystem::path(f).stem().string();
    const bool mig = stem.find("mig7") != std::string::npos;
    const std::pair<const char*, config::MigMode> modes[] = {
        {"nomig", config::MigMode::kNoMig},
        {"free", config::MigMode::kFreeSlices},
        {"physical", config::MigMode::kPhysicalMig}};
    for (const auto& [name, mode] : modes) {
      if (!mig && mode != config::MigMode::kNoMig) continue;
      benchmark::RegisterBenchmark(("BM_Melange/" + stem + "/" + name).c_str(), BM_Melange, f, mode)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}
const int kRegistered = RegisterMelange();

}  // namespace
}  // namespace gpufit

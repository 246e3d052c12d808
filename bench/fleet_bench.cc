// Fleet planning: plan cost, proven bound, gap and solve time (the performance goal:
// within 1% of optimal in under a second for 100 workloads and every bucketed instance).
//  - BM_FleetMix/N: N = 10, 100, 1000 workloads over the full default catalog (every GPU,
//    MIG allowed), a deterministic mix of the example workloads and the catalog's LLM presets
//    at varied precision, traffic and latency targets.
//  - BM_Melange/<file>/<mode>: every bucketed instance of tests/testdata/data/fleet-instances
//    (4x4 and 8x8 buckets) and the synthetic 10x10 and 12x12 ones from
//    config/melange_generator.h (`synthetic_*`, generated here), `base4` files as they are
//    (`nomig`), `mig7` files with slices bought freely (`free`, the file's own model) and
//    carved from physical A100s (`physical`). (`mig7` without its slices is the `base4`
//    instance again.)
// Each case runs once (a solve is the unit of work, and CBC's time limit, not the iteration
// count, bounds it); the counters carry the answer, and the last lines count the cases within
// 1% in under a second (GPUFIT_FLEET_SECONDS changes the limit; GPUFIT_FLEET_WRITE_INSTANCES=DIR
// writes the synthetic instances out). First it prints how closely the generator reproduces the
// shared 8x8 (and 4x4) tables. This is a report, not a test: nothing here asserts on time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "config/catalog_loader.h"
#include "config/workload_loader.h"
#include "config/yaml_reader.h"
#include "core/fleet_planner.h"
#include "core/fleet_solver.h"
#include "core/placement.h"
#include "nlohmann/json.hpp"
#include "support/melange/melange_generator.h"
#include "support/melange/melange_instance.h"

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

// The defaults (1 s, 1%); GPUFIT_FLEET_SECONDS overrides the time limit, e.g. to see how far
// a longer search gets.
core::FleetSolveOptions Options() {
  core::FleetSolveOptions options;
  if (const char* s = std::getenv("GPUFIT_FLEET_SECONDS"); s != nullptr && std::atof(s) > 0) {
    options.time_limit_seconds = std::atof(s);
  }
  return options;
}

// Every case's outcome, for the summary after the run.
struct Outcome {
  std::string name;
  bool bucketed = false;
  double gap = 0;
  double seconds = 0;
};
std::vector<Outcome>& Outcomes() {
  static auto* v = new std::vector<Outcome>;
  return *v;
}

void Report(benchmark::State& state, double cost, double bound, double gap, bool optimal,
            double heuristic, double seconds, const std::string& name, bool bucketed) {
  Outcomes().push_back({name, bucketed, gap, seconds});
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
    const core::FleetSolution s = core::SolveFleet(*pr, Options());
    Report(state, s.cost_usd_per_hour, s.lower_bound_usd_per_hour, s.gap, s.optimal,
           s.heuristic_cost_usd_per_hour, s.solve_seconds,
           absl::StrCat("FleetMix/", state.range(0), " workloads"), /*bucketed=*/false);
    state.counters["pool"] = static_cast<double>(pool.size());
  }
}
BENCHMARK(BM_FleetMix)->Arg(10)->Arg(100)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Melange(benchmark::State& state, const std::string& name, const std::string& text,
                melange::MigMode mode) {
  absl::StatusOr<core::FleetProblem> pr = melange::ParseMelangeInstance(text, name, mode);
  if (!pr.ok()) {
    state.SkipWithError(std::string(pr.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    const core::FleetSolution s = core::SolveFleet(*pr, Options());
    Report(state, s.cost_usd_per_hour, s.lower_bound_usd_per_hour, s.gap, s.optimal,
           s.heuristic_cost_usd_per_hour, s.solve_seconds, name, /*bucketed=*/true);
  }
}

const std::string kSharedDir = kSourceDir + "/tests/testdata/data/fleet-instances";

// (name, JSON text): the shared files, then synthetic 10x10 and 12x12 instances.
std::vector<std::pair<std::string, std::string>> Instances() {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> files;
  if (std::filesystem::exists(kSharedDir)) {
    for (const auto& e : std::filesystem::directory_iterator(kSharedDir)) {
      if (e.path().extension() == ".json") files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    absl::StatusOr<std::string> text = config::internal::ReadFileToString(f);
    if (text.ok()) out.emplace_back(std::filesystem::path(f).stem().string(), *text);
  }
  for (int buckets : {10, 12}) {
    for (bool mig : {false, true}) {
      for (double rate : {4.0, 32.0, 256.0}) {
        for (int sf : {4, 8}) {
          melange::MelangeInstanceSpec spec;
          spec.buckets = buckets;
          spec.mig = mig;
          spec.requests_per_second = rate;
          spec.slice_factor = sf;
          out.emplace_back(melange::MelangeInstanceName(spec),
                           melange::GenerateMelangeInstance(spec));
        }
      }
    }
  }
  return out;
}

int RegisterMelange() {
  for (const auto& [stem, text] : Instances()) {
    const bool mig = stem.find("mig7") != std::string::npos;
    const std::pair<const char*, melange::MigMode> modes[] = {
        {"nomig", melange::MigMode::kNoMig},
        {"free", melange::MigMode::kFreeSlices},
        {"physical", melange::MigMode::kPhysicalMig}};
    for (const auto& [mode_name, mode] : modes) {
      if (mig == (mode == melange::MigMode::kNoMig)) continue;
      const std::string label = stem + "/" + mode_name;
      benchmark::RegisterBenchmark(("BM_Melange/" + label).c_str(), BM_Melange, label, text, mode)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}
const int kRegistered = RegisterMelange();

// How closely the generator's tables match the shared ones of the same bucket count: RMS of
// log(generated / shared) throughput per GPU (noise-free model and generated with noise), and
// the largest difference of a bucket's request fraction.
void PrintGeneratorCheck() {
  for (int buckets : {4, 8}) {
    const std::string path = absl::StrCat(kSharedDir, "/mixed_g0", buckets, "_base4_r004_sf4.json");
    absl::StatusOr<std::string> text = config::internal::ReadFileToString(path);
    if (!text.ok()) continue;
    const nlohmann::json shared = nlohmann::json::parse(*text);
    melange::MelangeInstanceSpec spec;
    spec.buckets = buckets;
    const nlohmann::json generated = nlohmann::json::parse(melange::GenerateMelangeInstance(spec));
    std::printf("generator vs shared %dx%d:", buckets, buckets);
    for (const char* gpu : {"L4", "A10G", "A100-80GB", "H100"}) {
      double model = 0, noisy = 0;
      for (int i = 0; i < buckets; ++i) {
        for (int j = 0; j < buckets; ++j) {
          const double want = shared["gpu_info"][gpu]["tputs"][i][j].get<double>();
          const double m = melange::MelangeModelRequestsPerSecond(
              gpu, melange::MelangeBucketCentre(32, 8192, buckets, i),
              melange::MelangeBucketCentre(16, 2048, buckets, j));
          model += std::pow(std::log(m / want), 2);
          noisy +=
              std::pow(std::log(generated["gpu_info"][gpu]["tputs"][i][j].get<double>() / want), 2);
        }
      }
      std::printf(" %s rms log %.3f (model %.3f);", gpu, std::sqrt(noisy / (buckets * buckets)),
                  std::sqrt(model / (buckets * buckets)));
    }
    double worst = 0;
    for (int i = 0; i < buckets; ++i) {
      for (int j = 0; j < buckets; ++j) {
        worst = std::max(worst, std::abs(generated["workload_distribution"][i][j].get<double>() -
                                         shared["workload_distribution"][i][j].get<double>()));
      }
    }
    std::printf(" fractions max diff %.1e\n", worst);
  }
}

void PrintSummary() {
  int bucketed = 0, bucketed_ok = 0;
  double worst_gap = 0, worst_seconds = 0;
  for (const Outcome& o : Outcomes()) {
    const bool ok = o.gap <= 0.01 + 1e-12 && o.seconds < 1.0;
    if (o.bucketed) {
      ++bucketed;
      bucketed_ok += ok ? 1 : 0;
      worst_gap = std::max(worst_gap, o.gap);
      worst_seconds = std::max(worst_seconds, o.seconds);
      if (!ok)
        std::printf("  not within 1%% in <1 s: %s (gap %.2f%%, %.3f s)\n", o.name.c_str(),
                    100 * o.gap, o.seconds);
    } else {
      std::printf("%s: gap %.2f%% in %.3f s%s\n", o.name.c_str(), 100 * o.gap, o.seconds,
                  ok ? " (within 1% in <1 s)" : "");
    }
  }
  std::printf("%d/%d instances within 1%% in <1 s (bucketed; worst gap %.2f%%, slowest %.3f s)\n",
              bucketed_ok, bucketed, 100 * worst_gap, worst_seconds);
}

}  // namespace
}  // namespace gpufit

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // GPUFIT_FLEET_WRITE_INSTANCES=DIR also writes the synthetic instances there as JSON files.
  if (const char* dir = std::getenv("GPUFIT_FLEET_WRITE_INSTANCES"); dir != nullptr) {
    std::filesystem::create_directories(dir);
    for (const auto& [name, text] : gpufit::Instances()) {
      if (name.rfind("synthetic_", 0) != 0) continue;
      std::ofstream(std::filesystem::path(dir) / (name + ".json")) << text << "\n";
    }
  }
  gpufit::PrintGeneratorCheck();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  gpufit::PrintSummary();
  return 0;
}

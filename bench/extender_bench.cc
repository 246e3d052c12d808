// Scheduler-extender cost against its baseline in the same run: a full-Nodes filter with 500
// generated Node objects vs merely parsing the same body with simdjson (DOM, runtime-selected
// kernels), and a NodeNames filter/prioritize with 5000 names against the node cache.
// Goal (issue 5): full-Nodes filter <= 3x the raw parse. Report: see the "ratio" counter.
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "config/service_config.h"
#include "k8s/node_cache.h"
#include "k8s/node_inventory.h"
#include "server/extender.h"
#include "server/generated_cluster.h"
#include "simdjson.h"

namespace {

using gpufit::server::ConfigStore;
using gpufit::server::Extender;

struct Fixture {
  Fixture()
      : store(std::make_shared<const gpufit::config::ServiceConfig>(
            gpufit::config::DefaultServiceConfig())),
        extender(&store, &cache, nullptr) {
    for (int i = 0; i < 5000; ++i) {
      auto facts = gpufit::k8s::ParseNodeFacts(gpufit::testing::GeneratedNode(i));
      cache.Upsert(gpufit::k8s::BuildInventory(*facts));
    }
    nodes_body = gpufit::testing::NodesArgs(500);
    names_body = gpufit::testing::NodeNamesArgs(5000);
  }
  ConfigStore store;
  gpufit::k8s::NodeCache cache;
  Extender extender;
  std::string nodes_body;
  std::string names_body;
};

Fixture& F() {
  static Fixture f;
  return f;
}

double g_raw_parse_ns = 0;

void BM_RawParse500Nodes(benchmark::State& state) {
  simdjson::dom::parser parser;
  simdjson::padded_string body(F().nodes_body);
  for (auto _ : state) {
    simdjson::dom::element doc;
    benchmark::DoNotOptimize(parser.parse(body).get(doc));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  g_raw_parse_ns = 0;
}
BENCHMARK(BM_RawParse500Nodes)->Unit(benchmark::kMicrosecond);

void BM_FilterFullNodes500(benchmark::State& state) {
  for (auto _ : state) {
    auto r = F().extender.Filter(F().nodes_body);
    benchmark::DoNotOptimize(r.body.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * F().nodes_body.size()));
}
BENCHMARK(BM_FilterFullNodes500)->Unit(benchmark::kMicrosecond);

void BM_FilterNodeNames5000(benchmark::State& state) {
  for (auto _ : state) {
    auto r = F().extender.Filter(F().names_body);
    benchmark::DoNotOptimize(r.body.data());
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FilterNodeNames5000)->Unit(benchmark::kMicrosecond);

void BM_PrioritizeNodeNames5000(benchmark::State& state) {
  for (auto _ : state) {
    auto r = F().extender.Prioritize(F().names_body);
    benchmark::DoNotOptimize(r.body.data());
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PrioritizeNodeNames5000)->Unit(benchmark::kMicrosecond);

}  // namespace

#include "metrics/extender_probe.h"

#include <string>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {
namespace {

constexpr const char* kVerbs[kExtenderVerbCount] = {"filter", "prioritize"};
constexpr const char* kOutcomes[kExtenderOutcomeCount] = {"ok", "pass_through", "pod_error",
                                                          "bad_request"};
constexpr const char* kReasons[kFilterReasonCount] = {
    "memory", "slo", "capability", "no_gpu", "unknown_product", "no_capacity", "not_in_cache"};

// kube-scheduler's httpTimeout is 5 s by default; a NodeNames call takes well under 1 ms
// (bench/extender_bench.cc), a 500-node full-Nodes call a few ms.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};
  return buckets;
}

}  // namespace

ExtenderProbe::ExtenderProbe(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("gpufit_extender_requests_total")
                       .Help(
                           "Scheduler-extender calls, by verb (filter, prioritize) and outcome "
                           "(ok, pass_through, pod_error, bad_request).")
                       .Register(registry);
  auto& durations = prometheus::BuildHistogram()
                        .Name("gpufit_extender_request_duration_seconds")
                        .Help("Time to answer a scheduler-extender call, by verb, in seconds.")
                        .Register(registry);
  for (size_t v = 0; v < kExtenderVerbCount; ++v) {
    for (size_t o = 0; o < kExtenderOutcomeCount; ++o) {
      requests_[v][o] = &requests.Add({{"verb", kVerbs[v]}, {"outcome", kOutcomes[o]}});
    }
    durations_[v] = &durations.Add({{"verb", kVerbs[v]}}, DurationBuckets());
  }
  auto& filtered = prometheus::BuildCounter()
                       .Name("gpufit_extender_filtered_nodes_total")
                       .Help(
                           "Nodes the extender's filter removed, by reason class (memory, slo, "
                           "capability, no_gpu, unknown_product: unresolvable; no_capacity, "
                           "not_in_cache: resolvable).")
                       .Register(registry);
  for (size_t r = 0; r < kFilterReasonCount; ++r) {
    filtered_[r] = &filtered.Add({{"reason", kReasons[r]}});
  }
  cache_nodes_ = &prometheus::BuildGauge()
                      .Name("gpufit_node_cache_nodes")
                      .Help("Nodes in gpufitd's node cache (fed by list + watch of the API).")
                      .Register(registry)
                      .Add({});
  watch_restarts_ = &prometheus::BuildCounter()
                         .Name("gpufit_node_cache_watch_restarts_total")
                         .Help("Times the node watch ended (normally or not) and was reopened.")
                         .Register(registry)
                         .Add({});
}

void ExtenderProbe::RecordRequest(ExtenderVerb verb, ExtenderOutcome outcome, double seconds) {
  const auto v = static_cast<size_t>(verb);
  requests_[v][static_cast<size_t>(outcome)]->Increment();
  durations_[v]->Observe(seconds);
}

void ExtenderProbe::RecordFiltered(FilterReason reason, double nodes) {
  filtered_[static_cast<size_t>(reason)]->Increment(nodes);
}

void ExtenderProbe::SetCacheNodes(size_t nodes) { cache_nodes_->Set(static_cast<double>(nodes)); }

void ExtenderProbe::WatchRestarted() { watch_restarts_->Increment(); }

}  // namespace gpufit::metrics

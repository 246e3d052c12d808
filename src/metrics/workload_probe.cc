#include "metrics/workload_probe.h"

#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {

WorkloadProbe::WorkloadProbe(prometheus::Registry& registry) {
  replicas_ = &prometheus::BuildGauge()
                   .Name("gpufit_workload_recommended_replicas")
                   .Help(
                       "Replicas gpufit recommends for a configured workload, on the "
                       "recommended accelerator.")
                   .Register(registry);
  cost_ = &prometheus::BuildGauge()
               .Name("gpufit_workload_cost_usd_per_hour")
               .Help("Cost of a configured workload's recommendation, all replicas, USD per hour.")
               .Register(registry);
  tokens_ = &prometheus::BuildGauge()
                 .Name("gpufit_workload_output_tokens_per_second")
                 .Help(
                     "Output tokens per second of a configured workload's recommendation, "
                     "all replicas at the planned load.")
                 .Register(registry);
}

void WorkloadProbe::Set(const std::vector<WorkloadRecommendation>& workloads) {
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Family<prometheus::Gauge>* families[3] = {replicas_, cost_, tokens_};
  for (int f = 0; f < 3; ++f) {
    for (prometheus::Gauge* g : children_[f]) families[f]->Remove(g);
    children_[f].clear();
  }
  for (const WorkloadRecommendation& w : workloads) {
    prometheus::Gauge& replicas =
        replicas_->Add({{"workload", w.workload}, {"accelerator", w.accelerator}});
    replicas.Set(w.replicas);
    children_[0].push_back(&replicas);
    prometheus::Gauge& cost = cost_->Add({{"workload", w.workload}});
    cost.Set(w.cost_usd_per_hour);
    children_[1].push_back(&cost);
    prometheus::Gauge& tokens = tokens_->Add({{"workload", w.workload}});
    tokens.Set(w.output_tokens_per_second);
    children_[2].push_back(&tokens);
  }
}

}  // namespace gpufit::metrics

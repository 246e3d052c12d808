#include "metrics/metrics.h"

#include <utility>
#include <vector>

#include "metrics/process_collector.h"
#include "metrics/tls_probe.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace gpufit::metrics {

Metrics::Metrics(const std::string& build_version)
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_unique<ProcessCollector>()),
      tls_(std::make_unique<TlsProbe>(*registry_)),
      grpc_(std::make_unique<GrpcProbe>(*registry_)),
      decisions_(std::make_unique<DecisionProbe>(*registry_)),
      workloads_(std::make_unique<WorkloadProbe>(*registry_)),
      config_(std::make_unique<ConfigProbe>(*registry_, build_version)),
      extender_(std::make_unique<ExtenderProbe>(*registry_)),
      keda_(std::make_unique<KedaProbe>(*registry_)),
      overload_(std::make_unique<OverloadProbe>(*registry_)),
      fleet_(std::make_unique<FleetProbe>(*registry_)),
      http_(std::make_unique<HttpProbe>(*registry_)) {}

Metrics::~Metrics() = default;

std::string Metrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> process = process_->Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace gpufit::metrics

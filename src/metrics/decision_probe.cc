#include "metrics/decision_probe.h"

#include <string>
#include <utility>

#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {

DecisionProbe::DecisionProbe(prometheus::Registry& registry) {
  decisions_ = &prometheus::BuildCounter()
                    .Name("gpufit_decisions_total")
                    .Help(
                        "Place calls answered, by recommended accelerator id "
                        "(\"none\" when no option can serve the workload).")
                    .Register(registry);
  no_decision_ = &decisions_->Add({{"accelerator", "none"}});
  auto& infeasible = prometheus::BuildCounter()
                         .Name("gpufit_infeasible_options_total")
                         .Help(
                             "Options rejected by Place calls, by reason class "
                             "(memory, slo, capability).")
                         .Register(registry);
  const core::RejectClass classes[] = {core::RejectClass::kMemory, core::RejectClass::kSlo,
                                       core::RejectClass::kCapability};
  for (size_t i = 0; i < infeasible_.size(); ++i) {
    infeasible_[i] = &infeasible.Add({{"reason", std::string(core::RejectClassName(classes[i]))}});
  }
}

void DecisionProbe::BindCatalog(std::shared_ptr<const core::Catalog> catalog) {
  auto bound = std::make_shared<Bound>();
  for (const core::Accelerator& a : catalog->accelerators()) {
    bound->by_accelerator.push_back(&decisions_->Add({{"accelerator", a.id}}));
  }
  bound->catalog = std::move(catalog);
  std::lock_guard<std::mutex> lock(mu_);
  bound_ = std::move(bound);
}

void DecisionProbe::RecordPlace(const core::Catalog& catalog, const core::Decision& decision) {
  for (const core::Option& option : decision.options) {
    switch (option.rejection.cls) {
      case core::RejectClass::kMemory:
        infeasible_[0]->Increment();
        break;
      case core::RejectClass::kSlo:
        infeasible_[1]->Increment();
        break;
      case core::RejectClass::kCapability:
        infeasible_[2]->Increment();
        break;
      case core::RejectClass::kNone:
        break;
    }
  }
  const core::Option* recommended = decision.recommendation();
  if (recommended == nullptr || recommended->accelerator == nullptr) {
    no_decision_->Increment();
    return;
  }
  std::shared_ptr<const Bound> bound;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bound = bound_;
  }
  if (bound != nullptr && bound->catalog.get() == &catalog) {
    const auto index =
        static_cast<size_t>(recommended->accelerator - catalog.accelerators().data());
    if (index < bound->by_accelerator.size()) {
      bound->by_accelerator[index]->Increment();
      return;
    }
  }
  // A call that took its config snapshot just before a reload bound the new catalog: rare,
  // so the family lookup is fine here. The id still comes from a catalog.
  decisions_->Add({{"accelerator", recommended->accelerator->id}}).Increment();
}

}  // namespace gpufit::metrics

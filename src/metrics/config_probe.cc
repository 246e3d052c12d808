#include "metrics/config_probe.h"

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {

ConfigProbe::ConfigProbe(prometheus::Registry& registry, const std::string& build_version) {
  auto& reloads = prometheus::BuildCounter()
                      .Name("gpufit_config_reloads_total")
                      .Help(
                          "Config reloads (SIGHUP or file change), by result; a failed "
                          "reload keeps the previous config in force.")
                      .Register(registry);
  reload_success_ = &reloads.Add({{"result", "success"}});
  reload_failure_ = &reloads.Add({{"result", "failure"}});
  last_success_ = &prometheus::BuildGauge()
                       .Name("gpufit_config_last_reload_success_timestamp_seconds")
                       .Help("Unix time at which the config in force was loaded.")
                       .Register(registry)
                       .Add({});
  info_ = &prometheus::BuildGauge()
               .Name("gpufit_config_info")
               .Help(
                   "Always 1; the version label is the catalog version in force "
                   "(version field + hash of the catalog text).")
               .Register(registry);
  prometheus::BuildGauge()
      .Name("gpufit_build_info")
      .Help("Always 1; the version label is the gpufitd release.")
      .Register(registry)
      .Add({{"version", build_version}})
      .Set(1);
}

void ConfigProbe::ConfigLoaded(const std::string& version, double unix_seconds, bool reload) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reload) reload_success_->Increment();
  last_success_->Set(unix_seconds);
  prometheus::Gauge* next = &info_->Add({{"version", version}});
  if (info_child_ != nullptr && info_child_ != next) info_->Remove(info_child_);
  info_child_ = next;
  info_child_->Set(1);
}

void ConfigProbe::ReloadFailed() { reload_failure_->Increment(); }

}  // namespace gpufit::metrics

// Metrics of the configuration in force and of reloads, and the build info. Thread-safe.
#ifndef GPUFIT_METRICS_CONFIG_PROBE_H_
#define GPUFIT_METRICS_CONFIG_PROBE_H_

#include <mutex>
#include <string>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

class ConfigProbe {
 public:
  ConfigProbe(prometheus::Registry& registry, const std::string& build_version);
  ConfigProbe(const ConfigProbe&) = delete;
  ConfigProbe& operator=(const ConfigProbe&) = delete;

  // A config with catalog version `version` is in force since `unix_seconds`. `reload`:
  // false for the one loaded at startup, which is not counted as a reload.
  void ConfigLoaded(const std::string& version, double unix_seconds, bool reload);
  // A reload was rejected; the previous config stays in force.
  void ReloadFailed();

 private:
  prometheus::Counter* reload_success_;
  prometheus::Counter* reload_failure_;
  prometheus::Gauge* last_success_;
  prometheus::Family<prometheus::Gauge>* info_;

  std::mutex mu_;
  prometheus::Gauge* info_child_ = nullptr;  // guarded by mu_: the version in force
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_CONFIG_PROBE_H_

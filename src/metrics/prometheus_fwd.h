// Forward declarations of the prometheus-cpp types the probe headers name, so that a probe's
// users do not compile prometheus-cpp's headers (only the probes' .cc files include them).
#ifndef GPUFIT_METRICS_PROMETHEUS_FWD_H_
#define GPUFIT_METRICS_PROMETHEUS_FWD_H_

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

#endif  // GPUFIT_METRICS_PROMETHEUS_FWD_H_

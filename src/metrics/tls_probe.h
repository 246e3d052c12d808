// Metrics of the TLS certificates in force on gpufitd's listeners ("grpc", "http") and of
// their reloads. Thread-safe.
#ifndef GPUFIT_METRICS_TLS_PROBE_H_
#define GPUFIT_METRICS_TLS_PROBE_H_

#include <string>

#include "metrics/prometheus_fwd.h"

namespace gpufit::metrics {

class TlsProbe {
 public:
  explicit TlsProbe(prometheus::Registry& registry);
  TlsProbe(const TlsProbe&) = delete;
  TlsProbe& operator=(const TlsProbe&) = delete;

  // `listener` serves a certificate valid until `not_after_unix_seconds`. `reload`: false for
  // the one loaded at startup, which is not counted as a reload.
  void CertificateLoaded(const std::string& listener, double not_after_unix_seconds, bool reload);
  // A changed certificate, key or client CA of `listener` was rejected; the previous ones
  // stay in force.
  void ReloadFailed(const std::string& listener);

 private:
  prometheus::Family<prometheus::Counter>* reloads_;
  prometheus::Family<prometheus::Gauge>* expiry_;
};

}  // namespace gpufit::metrics

#endif  // GPUFIT_METRICS_TLS_PROBE_H_

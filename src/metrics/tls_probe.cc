#include "metrics/tls_probe.h"

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace gpufit::metrics {

TlsProbe::TlsProbe(prometheus::Registry& registry)
    : reloads_(&prometheus::BuildCounter()
                    .Name("gpufit_tls_certificate_reloads_total")
                    .Help("Reloads of a listener's TLS certificate, key or client CA after its "
                          "files changed, by listener (grpc, http) and result; a failed reload "
                          "keeps the previous certificate in force.")
                    .Register(registry)),
      expiry_(&prometheus::BuildGauge()
                   .Name("gpufit_tls_certificate_expiry_timestamp_seconds")
                   .Help("Unix time at which the certificate a listener serves expires (notAfter).")
                   .Register(registry)) {}

void TlsProbe::CertificateLoaded(const std::string& listener, double not_after_unix_seconds,
                                 bool reload) {
  // Both results exist from the first load on, so that rate() and increase() see the first
  // failure as an increase from 0.
  prometheus::Counter& success = reloads_->Add({{"listener", listener}, {"result", "success"}});
  reloads_->Add({{"listener", listener}, {"result", "failure"}});
  if (reload) success.Increment();
  expiry_->Add({{"listener", listener}}).Set(not_after_unix_seconds);
}

void TlsProbe::ReloadFailed(const std::string& listener) {
  reloads_->Add({{"listener", listener}, {"result", "failure"}}).Increment();
}

}  // namespace gpufit::metrics

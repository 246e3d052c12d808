// The TLS identity of one gpufitd listener ("grpc" or "http"): a certificate chain and its
// private key, and optionally the CA that client certificates must chain to (mTLS), read
// from PEM files and re-read when they change, without a restart.
//
// Every read is checked before it is used: the chain and key must parse, the key must match
// the leaf certificate, the client CA file must hold at least one certificate. A changed set
// that passes is put in force for new handshakes (connections already open keep theirs); one
// that fails is logged, counted (gpufit_tls_certificate_reloads_total{result="failure"}) and
// ignored, and the previous set stays in force. Files are re-read on Check() (SIGHUP) and on
// a poll; files unchanged since the last read are not checked or counted again.
//
// Both listeners consume the checked set, never the files themselves:
//  - HTTPS (OpenSSL under cpp-httplib): ConfigureSslContext() installs a certificate callback
//    that hands each new handshake the set in force.
//  - gRPC: GrpcCredentials() feeds grpc::experimental::FileWatcherCertificateProvider from
//    in-memory files (memfd) that hold only checked sets. gRPC 1.51's file watcher hands
//    whatever it reads to the TLS stack (a garbage key or CA file would break every new
//    handshake), and it reads the key and the certificate as two files (a rotation caught
//    half-way would pair an old key with a new certificate); the memfd holds key and chain
//    together and is replaced in one dup2(), with an mtime that changes on every swap, which
//    the watcher's before/after check catches.
#ifndef GPUFIT_SERVER_TLS_RELOADER_H_
#define GPUFIT_SERVER_TLS_RELOADER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "metrics/tls_probe.h"
#include "server/logging.h"
#include "server/poll_loop.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace gpufit::server {

// Where a listener's PEM files are, and the flags that named them (for error messages).
struct TlsFiles {
  std::string cert_path;  // certificate chain, leaf first
  std::string key_path;
  std::string client_ca_path;  // empty = no client certificates asked for
  std::string cert_flag = "--tls-cert";
  std::string key_flag = "--tls-key";
  std::string client_ca_flag = "--tls-client-ca";
};

class TlsReloader {
 public:
  // Reads and checks the files; INVALID_ARGUMENT naming the flag, the file and the reason if
  // they are unusable. `listener` is the metric label and log field. `logger` and `probe` are
  // not owned and must outlive the reloader.
  static absl::StatusOr<std::unique_ptr<TlsReloader>> Create(std::string listener, TlsFiles files,
                                                             Logger* logger,
                                                             metrics::TlsProbe* probe);
  ~TlsReloader();  // StopPolling()s
  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  // Re-reads the files; if they changed since the last read, checks them and puts them in
  // force. True if a new set is in force.
  bool Check(std::string_view trigger);
  // Check() every `interval` on a background thread until StopPolling().
  void StartPolling(std::chrono::milliseconds interval);
  void StopPolling();

  // HTTPS: sets up `ctx` (TLS >= 1.2, no session resumption so that every connection sees
  // the set in force, client certificates required and verified if there is a client CA)
  // to take its certificate from this reloader. The reloader must outlive `ctx`'s use.
  bool ConfigureSslContext(ssl_ctx_st* ctx);
  // gRPC: server credentials that follow this reloader (mTLS if there is a client CA).
  // INTERNAL if the in-memory files cannot be made. Call once.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcCredentials();

  bool mutual() const { return !files_.client_ca_path.empty(); }
  // Serial number (hex) of the leaf certificate in force, for logs and tests.
  std::string serial_hex() const;

  struct Identity;  // the checked set (OpenSSL objects and their PEM text); in the .cc

 private:
  TlsReloader(std::string listener, TlsFiles files, Logger* logger, metrics::TlsProbe* probe);
  std::shared_ptr<const Identity> Current() const;
  void StageForGrpcLocked(const Identity& identity);
  static int CertificateCallback(ssl_st* ssl, void* self);

  const std::string listener_;
  const TlsFiles files_;
  Logger* logger_;
  metrics::TlsProbe* probe_;

  std::atomic<uint64_t> reads_started_{0};  // numbers Check()'s reads, in start order
  std::mutex check_mu_;  // serialises applying a read; guards what follows, the memfds
  uint64_t last_applied_read_ = 0;
  std::string last_seen_;      // the file contents of the last check
  int grpc_identity_fd_ = -1;  // memfd: key + chain in force
  int grpc_ca_fd_ = -1;        // memfd: client CA in force
  long grpc_generation_ = 0;   // the memfds' mtime, bumped on every swap

  mutable std::mutex current_mu_;
  std::shared_ptr<const Identity> current_;  // guarded by current_mu_

  PollLoop poller_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_TLS_RELOADER_H_

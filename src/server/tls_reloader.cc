#include "server/tls_reloader.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "config/yaml_reader.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace gpufit::server {

struct TlsReloader::Identity {
  Identity() = default;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;
  ~Identity() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(client_ca);
  }

  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;  // the certificates after the leaf (intermediates)
  EVP_PKEY* key = nullptr;
  X509_STORE* client_ca = nullptr;  // null without a client CA
  std::string serial_hex;
  double not_after_unix_seconds = 0;
};

namespace {

using Identity = TlsReloader::Identity;

// The files as read: their text or the read error. `fingerprint` is what a poll compares.
struct FileSet {
  absl::StatusOr<std::string> cert;
  absl::StatusOr<std::string> key;
  absl::StatusOr<std::string> client_ca;
  std::string fingerprint;
};

// Larger PEM files are refused before OpenSSL sees them (a chain is a few KiB).
constexpr size_t kMaxPemBytes = 1 << 20;

// Encrypted keys are refused: without this callback OpenSSL would prompt on the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

// Each file through ReadFileToString (regular files only, never blocking on a FIFO) and no
// more than kMaxPemBytes of it.
FileSet ReadFiles(const TlsFiles& files) {
  const auto read = [](const std::string& path) {
    return config::internal::ReadFileToString(path, kMaxPemBytes);
  };
  FileSet set{read(files.cert_path),
              read(files.key_path),
              files.client_ca_path.empty() ? absl::StatusOr<std::string>(std::string())
                                           : read(files.client_ca_path),
              {}};
  for (const absl::StatusOr<std::string>* f : {&set.cert, &set.key, &set.client_ca}) {
    set.fingerprint += f->ok() ? **f : absl::StrCat("error: ", f->status().ToString());
    set.fingerprint.push_back('\0');
  }
  return set;
}

// The reason OpenSSL gave for the last failure on this thread ("" if none), and a clean queue.
std::string TakeOpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    reason = buf;
  }
  ERR_clear_error();
  return reason;
}

absl::Status FileError(const std::string& flag, const std::string& path, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", std::string(why)));
}

// Every PEM certificate in `pem`, in order (other PEM blocks, such as a key in a combined
// file, are skipped). A truncated or corrupt block is an error, not a shorter chain.
absl::StatusOr<STACK_OF(X509) *> ReadCertificates(const std::string& pem, const std::string& flag,
                                                  const std::string& path) {
  ERR_clear_error();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  STACK_OF(X509)* certs = sk_X509_new_null();
  if (bio == nullptr || certs == nullptr) {
    BIO_free(bio);
    sk_X509_free(certs);
    return absl::InternalError("out of memory reading certificates");
  }
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    sk_X509_push(certs, cert);
  }
  BIO_free(bio);
  const unsigned long end = ERR_peek_last_error();
  const bool clean_end =
      ERR_GET_LIB(end) == ERR_LIB_PEM && ERR_GET_REASON(end) == PEM_R_NO_START_LINE;
  const std::string reason = TakeOpenSslError();
  const int count = sk_X509_num(certs);
  if (count == 0 || !clean_end) {
    sk_X509_pop_free(certs, X509_free);
    return FileError(flag, path,
                     count == 0 && clean_end
                         ? "no PEM certificate in the file"
                         : absl::StrCat("not a PEM certificate (", reason, ")"));
  }
  return certs;
}

double NotAfterUnixSeconds(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<double>(timegm(&tm));
}

std::string SerialHex(const X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn == nullptr ? nullptr : BN_bn2hex(bn);
  std::string out = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

absl::StatusOr<std::shared_ptr<const Identity>> Parse(const TlsFiles& files, const FileSet& set) {
  const auto read_error = [](const std::string& flag, const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", std::string(s.message())));
  };
  if (!set.cert.ok()) return read_error(files.cert_flag, set.cert.status());
  if (!set.key.ok()) return read_error(files.key_flag, set.key.status());
  if (!set.client_ca.ok()) return read_error(files.client_ca_flag, set.client_ca.status());

  auto id = std::make_shared<Identity>();
  id->cert_pem = *set.cert;
  id->key_pem = *set.key;
  id->client_ca_pem = *set.client_ca;

  absl::StatusOr<STACK_OF(X509)*> certs =
      ReadCertificates(*set.cert, files.cert_flag, files.cert_path);
  if (!certs.ok()) return certs.status();
  id->chain = *certs;
  id->leaf = sk_X509_shift(id->chain);

  ERR_clear_error();
  BIO* bio = BIO_new_mem_buf(set.key->data(), static_cast<int>(set.key->size()));
  id->key =
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio, nullptr, &NoPassphrase, nullptr);
  BIO_free(bio);
  if (id->key == nullptr) {
    return FileError(
        files.key_flag, files.key_path,
        absl::StrCat("no unencrypted PEM private key in the file (", TakeOpenSslError(), ")"));
  }
  if (X509_check_private_key(id->leaf, id->key) != 1) {
    TakeOpenSslError();
    return FileError(files.key_flag, files.key_path,
                     absl::StrCat("the private key does not match the certificate in ",
                                  files.cert_flag, " ", files.cert_path));
  }

  if (!files.client_ca_path.empty()) {
    absl::StatusOr<STACK_OF(X509)*> cas =
        ReadCertificates(*set.client_ca, files.client_ca_flag, files.client_ca_path);
    if (!cas.ok()) return cas.status();
    id->client_ca = X509_STORE_new();
    bool added = id->client_ca != nullptr;
    for (int i = 0; added && i < sk_X509_num(*cas); ++i) {
      added = X509_STORE_add_cert(id->client_ca, sk_X509_value(*cas, i)) == 1;
    }
    sk_X509_pop_free(*cas, X509_free);
    if (!added) {
      return FileError(files.client_ca_flag, files.client_ca_path,
                       absl::StrCat("cannot use the certificates (", TakeOpenSslError(), ")"));
    }
  }
  id->serial_hex = SerialHex(id->leaf);
  id->not_after_unix_seconds = NotAfterUnixSeconds(id->leaf);
  return std::shared_ptr<const Identity>(std::move(id));
}

// A new in-memory file holding `content`, with mtime `generation` seconds (so that every
// version differs in mtime). -1 on failure.
int MakeMemfd(const char* name, const std::string& content, long generation) {
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  const struct timespec times[2] = {{generation, 0}, {generation, 0}};
  futimens(fd, times);
  return fd;
}

// Points `*fixed_fd` (created on first use) at a new memfd holding `content`, atomically.
bool ReplaceMemfd(int* fixed_fd, const char* name, const std::string& content, long generation) {
  const int fd = MakeMemfd(name, content, generation);
  if (fd < 0) return false;
  if (*fixed_fd < 0) {
    *fixed_fd = fd;
    return true;
  }
  const bool ok = dup2(fd, *fixed_fd) >= 0;
  close(fd);
  return ok;
}

std::string FdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

}  // namespace

TlsReloader::TlsReloader(std::string listener, TlsFiles files, Logger* logger,
                         metrics::TlsProbe* probe)
    : listener_(std::move(listener)), files_(std::move(files)), logger_(logger), probe_(probe) {}

absl::StatusOr<std::unique_ptr<TlsReloader>> TlsReloader::Create(std::string listener,
                                                                 TlsFiles files, Logger* logger,
                                                                 metrics::TlsProbe* probe) {
  std::unique_ptr<TlsReloader> r(
      new TlsReloader(std::move(listener), std::move(files), logger, probe));
  FileSet set = ReadFiles(r->files_);
  absl::StatusOr<std::shared_ptr<const Identity>> id = Parse(r->files_, set);
  if (!id.ok()) return id.status();
  r->last_seen_ = std::move(set.fingerprint);
  r->current_ = *id;
  probe->CertificateLoaded(r->listener_, (*id)->not_after_unix_seconds, /*reload=*/false);
  return r;
}

TlsReloader::~TlsReloader() {
  StopPolling();
  if (grpc_identity_fd_ >= 0) close(grpc_identity_fd_);
  if (grpc_ca_fd_ >= 0) close(grpc_ca_fd_);
}

std::shared_ptr<const TlsReloader::Identity> TlsReloader::Current() const {
  std::lock_guard<std::mutex> lock(current_mu_);
  return current_;
}

std::string TlsReloader::serial_hex() const { return Current()->serial_hex; }

bool TlsReloader::Check(std::string_view trigger) {
  // The files are read without the lock, so that a slow read never holds up a SIGHUP's
  // Check() or a certificate handshake; a read that started before one already applied is
  // stale and dropped (the newer one saw the files at least as late).
  const uint64_t read_number = ++reads_started_;
  FileSet set = ReadFiles(files_);
  std::lock_guard<std::mutex> lock(check_mu_);
  if (read_number < last_applied_read_) return false;
  last_applied_read_ = read_number;
  if (set.fingerprint == last_seen_) return false;
  last_seen_ = std::move(set.fingerprint);
  absl::StatusOr<std::shared_ptr<const Identity>> id = Parse(files_, set);
  if (!id.ok()) {
    probe_->ReloadFailed(listener_);
    logger_->Error("tls reload failed; the previous certificate stays in force",
                   {{"listener", listener_},
                    {"trigger", std::string(trigger)},
                    {"error", std::string(id.status().message())}});
    return false;
  }
  {
    std::lock_guard<std::mutex> current_lock(current_mu_);
    current_ = *id;
  }
  StageForGrpcLocked(**id);
  probe_->CertificateLoaded(listener_, (*id)->not_after_unix_seconds, /*reload=*/true);
  logger_->Info("tls certificate reloaded", {{"listener", listener_},
                                             {"trigger", std::string(trigger)},
                                             {"serial", (*id)->serial_hex},
                                             {"not_after", (*id)->not_after_unix_seconds}});
  return true;
}

void TlsReloader::StartPolling(std::chrono::milliseconds interval) {
  poller_.Start(interval, [this] { Check("file change"); });
}

void TlsReloader::StopPolling() { poller_.Stop(); }

// --- HTTPS ----------------------------------------------------------------------------------

int TlsReloader::CertificateCallback(SSL* ssl, void* self) {
  const std::shared_ptr<const Identity> id = static_cast<TlsReloader*>(self)->Current();
  // Each call takes its own references: the set may be replaced while the handshake runs.
  if (SSL_use_certificate(ssl, id->leaf) != 1 || SSL_use_PrivateKey(ssl, id->key) != 1 ||
      SSL_set1_chain(ssl, id->chain) != 1) {
    return 0;
  }
  if (id->client_ca != nullptr && SSL_set1_verify_cert_store(ssl, id->client_ca) != 1) return 0;
  return 1;
}

bool TlsReloader::ConfigureSslContext(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return false;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  // No resumption: a resumed session would skip the certificate callback (the set in force)
  // and the client certificate check against the client CA in force.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_cert_cb(ctx, &TlsReloader::CertificateCallback, this);
  if (mutual()) {
    // Verified against the store the callback sets; purpose "SSL client" (OpenSSL's server
    // default) refuses certificates whose extendedKeyUsage excludes clientAuth.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return true;
}

// --- gRPC -----------------------------------------------------------------------------------

void TlsReloader::StageForGrpcLocked(const Identity& id) {
  if (grpc_identity_fd_ < 0) return;  // gRPC does not use this reloader
  ++grpc_generation_;
  // Key first: gRPC reads the private key as the first PEM key block of its file and the
  // chain as the certificates after it, so one file carries both and swaps as one.
  bool ok = ReplaceMemfd(&grpc_identity_fd_, "gpufit-grpc-identity",
                         absl::StrCat(id.key_pem, "\n", id.cert_pem), grpc_generation_);
  if (ok && grpc_ca_fd_ >= 0) {
    ok = ReplaceMemfd(&grpc_ca_fd_, "gpufit-grpc-client-ca", id.client_ca_pem, grpc_generation_);
  }
  if (!ok) {
    logger_->Error("tls: cannot hand the new certificate to gRPC",
                   {{"listener", listener_}, {"error", std::strerror(errno)}});
  }
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsReloader::GrpcCredentials() {
  std::lock_guard<std::mutex> lock(check_mu_);
  const std::shared_ptr<const Identity> id = Current();
  ++grpc_generation_;
  if (!ReplaceMemfd(&grpc_identity_fd_, "gpufit-grpc-identity",
                    absl::StrCat(id->key_pem, "\n", id->cert_pem), grpc_generation_) ||
      (mutual() &&
       !ReplaceMemfd(&grpc_ca_fd_, "gpufit-grpc-client-ca", id->client_ca_pem, grpc_generation_))) {
    return absl::InternalError(
        absl::StrCat("tls: cannot create in-memory files for gRPC: ", std::strerror(errno)));
  }
  const std::string identity = FdPath(grpc_identity_fd_);
  // Re-read once a second: the memfds only change when Check() puts a new set in force.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      identity, identity, mutual() ? FdPath(grpc_ca_fd_) : std::string(), 1);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace gpufit::server

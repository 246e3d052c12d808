// TLS and mTLS on the gRPC port and HTTPS (optionally mTLS) on the HTTP port, and certificate
// reload without a restart, with certificates made by the openssl CLI for the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "config/yaml_reader.h"
#include "gmock/gmock.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "metrics/metrics_text.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/tls_reloader.h"

namespace gpufit::server {
namespace {

namespace v1 = ::gpufit::v1;
using ::gpufit::testing::MetricValue;
using ::testing::HasSubstr;
using ::testing::Optional;

class TlsTest : public ::gpufit::testing::DaemonFixture {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/gpufit-tls-" + std::to_string(getpid()));
    // A CA; two server certificates for 127.0.0.1/localhost from it with their own keys and
    // serials (the second is the rotation); a client certificate from it; and a client
    // certificate from another CA.
    const std::string script = "(set -e; mkdir -p " + *dir_ + "; cd " + *dir_ + R"sh(
key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@"; }
key -x509 -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca
key -x509 -keyout other-ca.key -out other-ca.pem -days 1 -subj /CN=other-ca
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
key -keyout server.key -out server.csr -subj /CN=localhost
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 0x1001 -out server.pem -days 1 -extfile san.ext
openssl pkey -in server.key -aes256 -passout pass:secret -out server-encrypted.key
key -keyout server2.key -out server2.csr -subj /CN=localhost
openssl x509 -req -in server2.csr -CA ca.pem -CAkey ca.key -set_serial 0x2002 -out server2.pem -days 1 -extfile san.ext
key -keyout client.key -out client.csr -subj /CN=client
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial 0x3003 -out client.pem -days 1
key -keyout intruder.key -out intruder.csr -subj /CN=intruder
openssl x509 -req -in intruder.csr -CA other-ca.pem -CAkey other-ca.key -set_serial 0x4004 -out intruder.pem -days 1
) >/dev/null 2>&1)sh";
    ok_ = std::system(script.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
  }

  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }
  static std::string Pem(const std::string& name) {
    return *config::internal::ReadFileToString(Path(name));
  }
  // Replaces live/`to` with `content` in one rename, as a Kubernetes Secret volume does.
  static void WriteLive(const std::string& to, const std::string& content) {
    const std::string tmp = Path("live/." + to + ".tmp");
    std::ofstream(tmp) << content;
    ASSERT_EQ(std::rename(tmp.c_str(), Path("live/" + to).c_str()), 0);
  }

  void SetUp() override {
    if (!ok_) GTEST_SKIP() << "openssl could not make test certificates";
    // The daemon serves live/server.{pem,key}, which tests replace.
    ASSERT_EQ(std::system(("rm -rf " + Path("live") + " && mkdir " + Path("live")).c_str()), 0);
    WriteLive("server.pem", Pem("server.pem"));
    WriteLive("server.key", Pem("server.key"));
  }

  // gRPC: TLS, mTLS if `grpc_mtls`. HTTP: HTTPS if `https`, mTLS if `http_mtls`.
  void StartDaemon(bool grpc_mtls, bool https = false, bool http_mtls = false,
                   int reload_poll_seconds = 0) {
    DaemonOptions o;
    o.reload_poll_seconds = reload_poll_seconds;
    o.tls_cert_path = Path("live/server.pem");
    o.tls_key_path = Path("live/server.key");
    if (grpc_mtls) o.tls_client_ca_path = Path("ca.pem");
    if (https) {
      o.http_tls_cert_path = o.tls_cert_path;
      o.http_tls_key_path = o.tls_key_path;
      if (http_mtls) o.http_tls_client_ca_path = Path("ca.pem");
    }
    const absl::Status s = DaemonFixture::StartDaemon(o);
    ASSERT_TRUE(s.ok()) << s;
  }

  grpc::Status GetCatalog(const grpc::SslCredentialsOptions& ssl) {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(daemon_->grpc_port()),
                                       grpc::SslCredentials(ssl));
    auto stub = v1::PlacementService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetCatalogResponse response;
    return stub->GetCatalog(&context, v1::GetCatalogRequest(), &response);
  }
  grpc::Status GetCatalogWithClientCert() {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Pem("ca.pem");
    ssl.pem_cert_chain = Pem("client.pem");
    ssl.pem_private_key = Pem("client.key");
    return GetCatalog(ssl);
  }

  // An HTTPS client trusting the test CA, presenting `client` (.pem/.key) unless empty.
  std::unique_ptr<httplib::SSLClient> Https(const std::string& client) {
    auto c =
        client.empty()
            ? std::make_unique<httplib::SSLClient>("127.0.0.1", daemon_->http_port())
            : std::make_unique<httplib::SSLClient>("127.0.0.1", daemon_->http_port(),
                                                   Path(client + ".pem"), Path(client + ".key"));
    c->set_ca_cert_path(Path("ca.pem").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(10);
    c->set_read_timeout(10);
    return c;
  }

  // The serial (hex) of the certificate `port` presents in a TLS handshake (as the test's
  // client with its client certificate, offering h2 for gRPC); "" if the handshake fails.
  static std::string ServedSerial(int port) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, Path("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_use_certificate_file(ctx, Path("client.pem").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx, Path("client.key").c_str(), SSL_FILETYPE_PEM);
    static const unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
    std::string serial;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SSL* ssl = SSL_new(ctx);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
      if (X509* cert = SSL_get1_peer_certificate(ssl)) {
        BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
        char* hex = BN_bn2hex(bn);
        serial = hex;
        OPENSSL_free(hex);
        BN_free(bn);
        X509_free(cert);
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return serial;
  }

  // Waits (bounded) until `port` serves the certificate with `serial`; the last one seen.
  static std::string AwaitServedSerial(int port, const std::string& serial) {
    std::string seen;
    for (int i = 0; i < 150; ++i) {
      seen = ServedSerial(port);
      if (seen == serial) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return seen;
  }

  std::string Metrics() { return daemon_->metrics().Serialize(); }

  // gpufit_tls_certificate_reloads_total{listener, result} as /metrics shows it.
  std::optional<double> Reloads(const std::string& listener, const std::string& result) {
    return MetricValue(Metrics(), "gpufit_tls_certificate_reloads_total",
                       {{"listener", listener}, {"result", result}});
  }

  static std::string* dir_;
  static bool ok_;
};

std::string* TlsTest::dir_ = nullptr;
bool TlsTest::ok_ = false;

TEST_F(TlsTest, ServerTls) {
  StartDaemon(/*grpc_mtls=*/false);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Pem("ca.pem");
  EXPECT_TRUE(GetCatalog(ssl).ok());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  StartDaemon(/*grpc_mtls=*/true);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Pem("ca.pem");
  EXPECT_EQ(GetCatalog(ssl).error_code(), grpc::StatusCode::UNAVAILABLE);
  ssl.pem_cert_chain = Pem("intruder.pem");  // signed by another CA
  ssl.pem_private_key = Pem("intruder.key");
  EXPECT_EQ(GetCatalog(ssl).error_code(), grpc::StatusCode::UNAVAILABLE);
  const grpc::Status s = GetCatalogWithClientCert();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TlsTest, HttpsExtenderWithClientCertificates) {
  StartDaemon(/*grpc_mtls=*/false, /*https=*/true, /*http_mtls=*/true);
  const std::string filter = *config::internal::ReadFileToString(
      std::string(GPUFIT_SHARED_DIR) + "/fixtures/extender/filter-request-nodes.json");

  httplib::Result ok = Https("client")->Post("/filter", filter, "application/json");
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_THAT(ok->body, HasSubstr("NodeNames"));
  httplib::Result metrics = Https("client")->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gpufit_tls_certificate_expiry_timestamp_seconds"));

  // Refused in the handshake: no client certificate, one from another CA, plain HTTP.
  httplib::Result no_cert = Https("")->Post("/filter", filter, "application/json");
  EXPECT_FALSE(no_cert) << "status " << no_cert->status;
  httplib::Result intruder = Https("intruder")->Post("/filter", filter, "application/json");
  EXPECT_FALSE(intruder) << "status " << intruder->status;
  httplib::Client plain("127.0.0.1", daemon_->http_port());
  plain.set_read_timeout(10);
  httplib::Result plain_r = plain.Get("/healthz");
  EXPECT_FALSE(plain_r) << "status " << plain_r->status;
  // The refused clients did not hurt the server.
  EXPECT_TRUE(Https("client")->Get("/healthz"));
}

TEST_F(TlsTest, HttpsWithoutClientCaServesAnyClient) {
  StartDaemon(/*grpc_mtls=*/false, /*https=*/true, /*http_mtls=*/false);
  httplib::Result r = Https("")->Get("/readyz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
}

TEST_F(TlsTest, HealthAddressServesProbesInPlainHttp) {
  DaemonOptions o;
  o.health_address = "127.0.0.1:0";
  o.http_tls_cert_path = Path("live/server.pem");
  o.http_tls_key_path = Path("live/server.key");
  o.http_tls_client_ca_path = Path("ca.pem");
  ASSERT_TRUE(DaemonFixture::StartDaemon(o).ok());
  ASSERT_NE(daemon_->health_port(), 0);
  httplib::Client probe("127.0.0.1", daemon_->health_port());
  httplib::Result ready = probe.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  httplib::Result metrics = probe.Get("/metrics");  // probes only: no metrics, no extender
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 404);
}

TEST_F(TlsTest, RotatedCertificateServesNewConnectionsOnBothPorts) {
  StartDaemon(/*grpc_mtls=*/true, /*https=*/true, /*http_mtls=*/true);
  ASSERT_EQ(ServedSerial(daemon_->grpc_port()), "1001");
  ASSERT_EQ(ServedSerial(daemon_->http_port()), "1001");

  WriteLive("server.key", Pem("server2.key"));
  WriteLive("server.pem", Pem("server2.pem"));
  daemon_->Reload();  // SIGHUP
  EXPECT_EQ(ServedSerial(daemon_->http_port()), "2002");
  // gRPC picks the checked set up on its own watcher's next look (once a second).
  EXPECT_EQ(AwaitServedSerial(daemon_->grpc_port(), "2002"), "2002");
  const grpc::Status s = GetCatalogWithClientCert();
  EXPECT_TRUE(s.ok()) << s.error_message();
  httplib::Result r = Https("client")->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(Reloads("grpc", "success"), Optional(1.0));
  EXPECT_THAT(Reloads("http", "success"), Optional(1.0));
}

TEST_F(TlsTest, BadReplacementKeepsTheCertificateInForce) {
  StartDaemon(/*grpc_mtls=*/true, /*https=*/true, /*http_mtls=*/true);
  // Garbage in place of the certificate.
  WriteLive("server.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  daemon_->Reload();
  // A valid certificate with the wrong key (half of a rotation).
  WriteLive("server.pem", Pem("server2.pem"));
  daemon_->Reload();
  daemon_->Reload();  // unchanged files: not checked or counted again
  EXPECT_THAT(Reloads("http", "failure"), Optional(2.0));
  EXPECT_THAT(Reloads("grpc", "failure"), Optional(2.0));
  EXPECT_THAT(Reloads("http", "success"), Optional(0.0));
  EXPECT_THAT(log_.str(), HasSubstr("does not match the certificate"));

  // gRPC's watcher has had time to look at least twice; the old certificate still serves.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(ServedSerial(daemon_->http_port()), "1001");
  EXPECT_EQ(ServedSerial(daemon_->grpc_port()), "1001");
  const grpc::Status s = GetCatalogWithClientCert();
  EXPECT_TRUE(s.ok()) << s.error_message();
  httplib::Result r = Https("client")->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // Completing the rotation is picked up.
  WriteLive("server.key", Pem("server2.key"));
  daemon_->Reload();
  EXPECT_EQ(ServedSerial(daemon_->http_port()), "2002");
}

TEST_F(TlsTest, PollPicksUpChangedFiles) {
  StartDaemon(/*grpc_mtls=*/false, /*https=*/true, /*http_mtls=*/false, /*reload_poll_seconds=*/1);
  WriteLive("server.key", Pem("server2.key"));
  WriteLive("server.pem", Pem("server2.pem"));
  EXPECT_EQ(AwaitServedSerial(daemon_->http_port(), "2002"), "2002");
  EXPECT_EQ(AwaitServedSerial(daemon_->grpc_port(), "2002"), "2002");
}

// HTTPS on the event-driven server: requests share a kept-alive TLS connection, and a client
// that connects but never completes the handshake is closed at the request deadline (and
// counted), holding nothing longer.
TEST_F(TlsTest, HttpsKeepAliveAndHandshakeDeadline) {
  DaemonOptions o;
  o.http_tls_cert_path = Path("live/server.pem");
  o.http_tls_key_path = Path("live/server.key");
  o.http_timeout_seconds = 1;
  ASSERT_TRUE(DaemonFixture::StartDaemon(o).ok());
  std::unique_ptr<httplib::SSLClient> client = Https("");
  client->set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    httplib::Result r = client->Get("/healthz");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(daemon_->http_load().connections_open, 1);

  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(daemon_->http_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{60, 0};  // safety net
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char c;
  EXPECT_LE(recv(fd, &c, 1, 0), 0);  // closed by the server
  close(fd);
  // Counted right after the close (the 60 s bound is a safety net).
  std::optional<double> refused;
  for (int i = 0; i < 6000 && refused != 1.0; ++i) {
    refused = MetricValue(Metrics(), "gpufit_http_connections_refused_total",
                          {{"listener", "http"}, {"reason", "tls_handshake"}});
    if (refused != 1.0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(refused, Optional(1.0));
  // The kept-alive connection still serves.
  httplib::Result r = client->Get("/readyz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
}

TEST_F(TlsTest, StartupRefusesUnusableFilesNamingTheFlag) {
  Logger logger(&log_);
  metrics::Metrics metrics("test");
  const auto make = [&](const std::string& cert, const std::string& key, const std::string& ca) {
    TlsFiles files{Path(cert), Path(key), ca.empty() ? "" : Path(ca)};
    files.cert_flag = "--http-tls-cert";
    files.key_flag = "--http-tls-key";
    files.client_ca_flag = "--http-tls-client-ca";
    return TlsReloader::Create("http", files, &logger, &metrics.tls()).status();
  };
  EXPECT_TRUE(make("server.pem", "server.key", "ca.pem").ok());
  EXPECT_THAT(make("missing.pem", "server.key", "").message(), HasSubstr("--http-tls-cert"));
  EXPECT_THAT(std::string(make("server.key", "server.key", "").message()),
              HasSubstr("no PEM certificate in the file"));
  EXPECT_THAT(make("server.pem", "server.pem", "").message(), HasSubstr("--http-tls-key"));
  EXPECT_THAT(make("server.pem", "server2.key", "").message(),
              HasSubstr("does not match the certificate"));
  EXPECT_THAT(make("server.pem", "server-encrypted.key", "").message(),
              HasSubstr("no unencrypted PEM private key"));
  EXPECT_THAT(make("server.pem", "server.key", "client.key").message(),
              HasSubstr("--http-tls-client-ca"));
}

}  // namespace
}  // namespace gpufit::server

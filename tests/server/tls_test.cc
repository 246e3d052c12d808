// TLS and mTLS on the gRPC port, with certificates made by the openssl CLI for the test.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "config/yaml_reader.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/daemon.h"

namespace gpufit::server {
namespace {

namespace v1 = ::gpufit::v1;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/gpufit-tls-" + std::to_string(getpid()));
    // A CA, a server certificate for 127.0.0.1/localhost, and a client certificate.
    const std::string script = "(set -e; mkdir -p " + *dir_ + "; cd " + *dir_ + R"sh(
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile san.ext
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1
) >/dev/null 2>&1)sh";
    ok_ = std::system(script.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
  }

  static std::string Pem(const std::string& name) {
    return *config::internal::ReadFileToString(*dir_ + "/" + name);
  }

  void StartDaemon(bool mtls) {
    DaemonOptions o;
    o.grpc_address = "127.0.0.1:0";
    o.http_address = "127.0.0.1:0";
    o.tls_cert_path = *dir_ + "/server.pem";
    o.tls_key_path = *dir_ + "/server.key";
    if (mtls) o.tls_client_ca_path = *dir_ + "/ca.pem";
    daemon_ = std::make_unique<Daemon>(o, &logger_);
    const absl::Status s = daemon_->Start();
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

  static std::string* dir_;
  static bool ok_;
  std::ostringstream log_;
  Logger logger_{&log_};
  std::unique_ptr<Daemon> daemon_;
};

std::string* TlsTest::dir_ = nullptr;
bool TlsTest::ok_ = false;

TEST_F(TlsTest, ServerTls) {
  if (!ok_) GTEST_SKIP() << "openssl could not make test certificates";
  StartDaemon(/*mtls=*/false);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Pem("ca.pem");
  EXPECT_TRUE(GetCatalog(ssl).ok());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  if (!ok_) GTEST_SKIP() << "openssl could not make test certificates";
  StartDaemon(/*mtls=*/true);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Pem("ca.pem");
  EXPECT_EQ(GetCatalog(ssl).error_code(), grpc::StatusCode::UNAVAILABLE);
  ssl.pem_cert_chain = Pem("client.pem");
  ssl.pem_private_key = Pem("client.key");
  const grpc::Status s = GetCatalog(ssl);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace gpufit::server

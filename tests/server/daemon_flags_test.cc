#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/daemon.h"

namespace gpufit::server {
namespace {

using ::testing::HasSubstr;

std::string FlagError(const std::vector<std::string>& args) {
  absl::StatusOr<DaemonFlags> f = ParseDaemonFlags(args);
  EXPECT_FALSE(f.ok());
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(f.status().message());
}

TEST(DaemonFlagsTest, Defaults) {
  absl::StatusOr<DaemonFlags> f = ParseDaemonFlags({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->options.grpc_address, "0.0.0.0:50051");
  EXPECT_EQ(f->options.http_address, "0.0.0.0:8080");
  EXPECT_EQ(f->options.log_level, LogLevel::kInfo);
  EXPECT_EQ(f->options.shutdown_grace_seconds, 10);
  EXPECT_EQ(f->options.max_message_bytes, 1048576);
  EXPECT_EQ(f->options.reload_poll_seconds, 2);
  EXPECT_TRUE(f->options.config_path.empty());
  EXPECT_FALSE(f->help);
  EXPECT_FALSE(f->version);
}

TEST(DaemonFlagsTest, BothSpellings) {
  absl::StatusOr<DaemonFlags> f = ParseDaemonFlags(
      {"--config=/etc/gpufit.yaml", "--grpc-address", "127.0.0.1:0", "--http-address=[::1]:9090",
       "--log-level", "debug", "--shutdown-grace-seconds=3", "--max-message-bytes", "1024",
       "--reload-poll-seconds=0", "--tls-cert", "c.pem", "--tls-key=k.pem", "--tls-client-ca",
       "ca.pem", "--version"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->options.config_path, "/etc/gpufit.yaml");
  EXPECT_EQ(f->options.grpc_address, "127.0.0.1:0");
  EXPECT_EQ(f->options.http_address, "[::1]:9090");
  EXPECT_EQ(f->options.log_level, LogLevel::kDebug);
  EXPECT_EQ(f->options.shutdown_grace_seconds, 3);
  EXPECT_EQ(f->options.max_message_bytes, 1024);
  EXPECT_EQ(f->options.reload_poll_seconds, 0);
  EXPECT_EQ(f->options.tls_cert_path, "c.pem");
  EXPECT_EQ(f->options.tls_key_path, "k.pem");
  EXPECT_EQ(f->options.tls_client_ca_path, "ca.pem");
  EXPECT_TRUE(f->version);
}

TEST(DaemonFlagsTest, Errors) {
  EXPECT_THAT(FlagError({"--bogus"}), HasSubstr("unknown flag '--bogus'"));
  EXPECT_THAT(FlagError({"serve"}), HasSubstr("unexpected argument 'serve'"));
  EXPECT_EQ(FlagError({"--config"}), "--config: missing value");
  EXPECT_THAT(FlagError({"--grpc-address=nonsense"}),
              HasSubstr("--grpc-address: must be HOST:PORT"));
  EXPECT_THAT(FlagError({"--grpc-address=:50051"}), HasSubstr("HOST missing"));
  EXPECT_THAT(FlagError({"--http-address=x:70000"}), HasSubstr("PORT must be 0..65535"));
  EXPECT_THAT(FlagError({"--http-address=::1:80"}), HasSubstr("IPv6 hosts must be in brackets"));
  EXPECT_THAT(FlagError({"--log-level=loud"}), HasSubstr("--log-level: must be debug"));
  EXPECT_THAT(FlagError({"--max-message-bytes=0"}), HasSubstr("--max-message-bytes: must be"));
  EXPECT_THAT(FlagError({"--shutdown-grace-seconds=-1"}), HasSubstr("--shutdown-grace-seconds"));
  EXPECT_THAT(FlagError({"--tls-cert=c.pem"}), HasSubstr("give both or neither"));
  EXPECT_THAT(FlagError({"--tls-client-ca=ca.pem"}), HasSubstr("requires --tls-cert"));
  EXPECT_EQ(FlagError({"--help=yes"}), "--help: takes no value");
}

TEST(DaemonFlagsTest, HttpTls) {
  absl::StatusOr<DaemonFlags> f =
      ParseDaemonFlags({"--http-tls-cert=h.pem", "--http-tls-key", "hk.pem",
                        "--http-tls-client-ca=hca.pem", "--health-address=0.0.0.0:8081"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->options.http_tls_cert_path, "h.pem");
  EXPECT_EQ(f->options.http_tls_key_path, "hk.pem");
  EXPECT_EQ(f->options.http_tls_client_ca_path, "hca.pem");
  EXPECT_EQ(f->options.health_address, "0.0.0.0:8081");
  EXPECT_TRUE(f->options.tls_cert_path.empty());  // the gRPC port's TLS is separate
  EXPECT_THAT(FlagError({"--http-tls-key=k.pem"}), HasSubstr("give both or neither"));
  EXPECT_THAT(FlagError({"--http-tls-client-ca=ca.pem", "--tls-cert=c", "--tls-key=k"}),
              HasSubstr("--http-tls-client-ca: requires --http-tls-cert"));
  EXPECT_THAT(FlagError({"--health-address=8081"}), HasSubstr("--health-address: must be"));
}

}  // namespace
}  // namespace gpufit::server

// An in-process gpufitd for tests: gRPC and HTTP on 127.0.0.1 with ports the kernel picks
// (read back with grpc_port() / http_port()), so that test binaries and parallel ctest runs
// never collide on a port.
#ifndef GPUFIT_TESTS_SERVER_DAEMON_FIXTURE_H_
#define GPUFIT_TESTS_SERVER_DAEMON_FIXTURE_H_

#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/daemon.h"
#include "server/logging.h"

namespace gpufit::testing {

// `options` with the gRPC and HTTP listeners on 127.0.0.1, port 0.
inline server::DaemonOptions LoopbackOptions(server::DaemonOptions options = {}) {
  options.grpc_address = "127.0.0.1:0";
  options.http_address = "127.0.0.1:0";
  return options;
}

// A plaintext channel to `daemon`'s gRPC port.
inline std::shared_ptr<grpc::Channel> InsecureChannelTo(const server::Daemon& daemon) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(daemon.grpc_port()),
                             grpc::InsecureChannelCredentials());
}

// A test fixture holding one daemon at a time and the log it writes (log_.str()).
class DaemonFixture : public ::testing::Test {
 protected:
  explicit DaemonFixture(server::LogLevel level = server::LogLevel::kInfo)
      : logger_(&log_, level) {}

  // Stops the daemon_ there is, if any, then starts a new one from LoopbackOptions(options).
  // daemon_ is the new daemon whether or not it started.
  absl::Status StartDaemon(server::DaemonOptions options) {
    daemon_.reset();
    daemon_ = std::make_unique<server::Daemon>(LoopbackOptions(std::move(options)), &logger_);
    return daemon_->Start();
  }

  std::ostringstream log_;
  server::Logger logger_;
  std::unique_ptr<server::Daemon> daemon_;
};

// A DaemonFixture that talks to its daemon through a real PlacementService stub (the stub is
// what an outside gRPC client would hold). Starts a default daemon before each test.
class PlacementStubFixture : public DaemonFixture {
 protected:
  void SetUp() override { StartWithStub(server::DaemonOptions{}); }

  // Drops the stub, restarts the daemon from `options` and opens a new channel and stub to it.
  void StartWithStub(server::DaemonOptions options) {
    stub_.reset();
    const absl::Status s = StartDaemon(std::move(options));
    ASSERT_TRUE(s.ok()) << s;
    channel_ = InsecureChannelTo(*daemon_);
    stub_ = gpufit::v1::PlacementService::NewStub(channel_);
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gpufit::v1::PlacementService::Stub> stub_;
};

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_SERVER_DAEMON_FIXTURE_H_

// gpufitd's outbound Prometheus queries cannot be abused (issue 13), through a real daemon on
// 127.0.0.1 and a fake Prometheus (fake_prometheus.h) that listens and counts:
//  - a KEDA trigger's serverAddress that the config does not list is INVALID_ARGUMENT naming
//    scalerMetadata.serverAddress, on every method, and nothing connects to it;
//  - a Prometheus that trickles its answer holds a call only until the client's deadline,
//    and the call slot is free again for the next call;
//  - Daemon::Shutdown() returns with a query stuck in flight, which ends with an error;
//  - a KEDA StreamIsActive ending (the client cancelling) ends its query in flight.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "externalscaler/externalscaler.grpc.pb.h"
#include "gmock/gmock.h"
#include "gpufit/v1/autoscaling.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "metrics/metrics_text.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/fake_prometheus.h"
#include "server/temp_file.h"

namespace gpufit::server {
namespace {

namespace es = ::externalscaler;
using ::gpufit::testing::FakePrometheus;
using ::gpufit::testing::MetricValue;
using ::gpufit::testing::TempFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class KedaOutboundTest : public ::gpufit::testing::DaemonFixture {
 protected:
  // Starts gpufitd with a config that lists `servers` as prometheus.servers and a workload
  // `chat` whose autoscaling queries the first of them.
  void Start(const std::vector<std::string>& servers, DaemonOptions options = {}) {
    std::string list;
    for (const std::string& s : servers) list += (list.empty() ? "" : ", ") + s;
    config_.Write("prometheus: {servers: [" + list +
                  "]}\n"
                  "workloads:\n"
                  "  - name: chat\n"
                  "    model: llama-3-8b\n"
                  "    traffic: {concurrency: 10}\n"
                  "    autoscaling: {query: sum(running), accelerator: l4}\n");
    options.config_path = config_.path();
    options.keda_poll_seconds = 1;
    const absl::Status s = StartDaemon(options);
    ASSERT_TRUE(s.ok()) << s;
    auto channel = ::gpufit::testing::InsecureChannelTo(*daemon_);
    scaler_ = es::ExternalScaler::NewStub(channel);
    autoscaling_ = gpufit::v1::AutoscalingService::NewStub(channel);
  }

  static es::ScaledObjectRef Trigger(const std::string& server_address) {
    es::ScaledObjectRef ref;
    ref.set_name("vllm");
    ref.set_namespace_("serving");
    auto& m = *ref.mutable_scalermetadata();
    m["workload"] = "chat";
    m["accelerator"] = "l4";
    m["query"] = "sum(vllm:num_requests_running)";
    m["serverAddress"] = server_address;
    return ref;
  }

  grpc::Status GetMetrics(const es::ScaledObjectRef& ref, std::chrono::milliseconds deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    es::GetMetricsRequest request;
    *request.mutable_scaledobjectref() = ref;
    request.set_metricname("s0-gpufit-chat-concurrency");
    es::GetMetricsResponse response;
    return scaler_->GetMetrics(&context, request, &response);
  }

  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return MetricValue(daemon_->metrics().Serialize(), name, labels).value_or(0);
  }

  TempFile config_{"keda-outbound.yaml"};
  std::unique_ptr<es::ExternalScaler::Stub> scaler_;
  std::unique_ptr<gpufit::v1::AutoscalingService::Stub> autoscaling_;
};

// Connects to 127.0.0.1:`port` and closes again (a sentinel connection).
void ConnectOnce(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

// The probe's finding 4: any gRPC client could make gpufitd connect anywhere.
TEST_F(KedaOutboundTest, AnUnlistedServerIsRefusedAndNeverContacted) {
  FakePrometheus target(FakePrometheus::Mode::kAnswer);  // where a client wants gpufitd to go
  Start({"http://127.0.0.1:1"});
  const std::string port = std::to_string(target.port());
  // The server itself, and URLs a prefix match or a naive parser would take for the listed
  // one while they point at the target.
  for (const std::string& address :
       {target.url(), "http://127.0.0.1:1@127.0.0.1:" + port,
        "http://127.0.0.1:" + port + "#@127.0.0.1:1",
        "http://127.0.0.1:" + port + "/?http://127.0.0.1:1", "http://127.0.0.1:1" + port,
        "http://127.0.0.1:" + port + "/%2e%2e/"}) {
    const es::ScaledObjectRef ref = Trigger(address);
    std::vector<grpc::Status> results;
    {
      grpc::ClientContext context;
      es::GetMetricSpecResponse response;
      results.push_back(scaler_->GetMetricSpec(&context, ref, &response));
    }
    results.push_back(GetMetrics(ref, std::chrono::seconds(30)));
    {
      grpc::ClientContext context;
      es::IsActiveResponse response;
      results.push_back(scaler_->IsActive(&context, ref, &response));
    }
    {
      grpc::ClientContext context;
      auto reader = scaler_->StreamIsActive(&context, ref);
      es::IsActiveResponse response;
      while (reader->Read(&response)) {
      }
      results.push_back(reader->Finish());
    }
    for (const grpc::Status& s : results) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << address;
      EXPECT_THAT(s.error_message(), StartsWith("scalerMetadata.serverAddress: ")) << address;
      // The allowed servers are named, except where the URL was not even valid.
      if (s.error_message().find("is not a Prometheus server") != std::string::npos) {
        EXPECT_THAT(s.error_message(),
                    HasSubstr("(prometheus.servers in its config: http://127.0.0.1:1)"));
      }
    }
  }
  // Nothing connected: a connection of our own is the first the target accepts (the
  // kernel's accept queue is first in, first out).
  ConnectOnce(target.port());
  ASSERT_TRUE(FakePrometheus::WaitFor([&] { return target.accepted() >= 1; }));
  EXPECT_EQ(target.accepted(), 1);
  EXPECT_EQ(Metric("gpufit_keda_query_duration_seconds_count"), 0) << "no query was attempted";
}

// The probe's finding 4: a Prometheus that trickles its answer held gpufitd's call slots for
// 60 s, past the client's deadline. With one slot and no queue, the next call would be
// refused (RESOURCE_EXHAUSTED) if the first still held it.
TEST_F(KedaOutboundTest, ATrickledAnswerEndsAtTheClientsDeadlineAndFreesTheSlot) {
  FakePrometheus slow(FakePrometheus::Mode::kTrickle);
  DaemonOptions options;
  options.grpc_max_in_flight = 1;
  options.grpc_max_queued = 0;
  options.prometheus_timeout_seconds = 600;  // only the client's deadline can end the call
  Start({slow.url()}, options);
  const grpc::Status s = GetMetrics(Trigger(slow.url()), std::chrono::milliseconds(1000));
  EXPECT_THAT(s.error_code(),
              ::testing::AnyOf(grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::UNAVAILABLE));
  // The handler ended (it counts its call as it returns, after its slot is released), and
  // the query's connection is closed.
  ASSERT_TRUE(FakePrometheus::WaitFor([&] {
    return Metric("gpufit_keda_requests_total",
                  {{"method", "GetMetrics"}, {"code", "DEADLINE_EXCEEDED"}}) == 1;
  })) << "the handler outlived its caller's deadline";
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return slow.closed_by_client() == 1; }));
  EXPECT_EQ(daemon_->grpc_admission().in_flight(), 0);
  EXPECT_EQ(Metric("gpufit_keda_query_errors_total", {{"reason", "timeout"}}), 1);
  // The slot is free: the next call is served.
  {
    grpc::ClientContext context;
    es::GetMetricSpecResponse response;
    const grpc::Status next = scaler_->GetMetricSpec(&context, Trigger(slow.url()), &response);
    EXPECT_TRUE(next.ok()) << next.error_message();
  }
  // Recommend's query (the workload's autoscaling block) follows its caller's deadline too.
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    gpufit::v1::RecommendResponse response;
    const grpc::Status r =
        autoscaling_->Recommend(&context, gpufit::v1::RecommendRequest(), &response);
    EXPECT_FALSE(r.ok());
  }
  ASSERT_TRUE(FakePrometheus::WaitFor([&] {
    return Metric("gpufit_keda_requests_total",
                  {{"method", "Recommend"}, {"code", "DEADLINE_EXCEEDED"}}) == 1;
  }));
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return slow.closed_by_client() == 2; }));
}

// The probe's finding 4: SIGTERM with a 2 s grace took 57 s while one such query was open.
TEST_F(KedaOutboundTest, ShutdownStopsAQueryStuckInFlight) {
  FakePrometheus stuck(FakePrometheus::Mode::kStall);
  DaemonOptions options;
  options.shutdown_grace_seconds = 1;
  options.prometheus_timeout_seconds = 600;
  Start({stuck.url()}, options);
  // No client deadline: only the shutdown can end this call.
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    es::GetMetricsRequest request;
    *request.mutable_scaledobjectref() = Trigger(stuck.url());
    es::GetMetricsResponse response;
    return scaler_->GetMetrics(&context, request, &response);
  });
  ASSERT_TRUE(FakePrometheus::WaitFor([&] { return stuck.requests() == 1; }));
  auto shutdown = std::async(std::launch::async, [&] { daemon_->Shutdown(); });
  ASSERT_EQ(shutdown.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "Daemon::Shutdown() waited on the stuck query";
  ASSERT_EQ(call.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const grpc::Status s = call.get();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::CANCELLED));
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return stuck.closed_by_client() == 1; }));
}

TEST_F(KedaOutboundTest, AStreamEndingStopsItsQuery) {
  FakePrometheus stuck(FakePrometheus::Mode::kStall);
  DaemonOptions options;
  options.prometheus_timeout_seconds = 600;
  Start({stuck.url()}, options);
  {
    grpc::ClientContext context;
    auto reader = scaler_->StreamIsActive(&context, Trigger(stuck.url()));
    ASSERT_TRUE(FakePrometheus::WaitFor([&] { return stuck.requests() == 1; }));
    context.TryCancel();
    es::IsActiveResponse response;
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return stuck.closed_by_client() == 1; }))
      << "the query outlived its stream";
  ASSERT_TRUE(FakePrometheus::WaitFor([&] {
    return Metric("gpufit_keda_requests_total",
                  {{"method", "StreamIsActive"}, {"code", "CANCELLED"}}) == 1;
  }));
  EXPECT_EQ(Metric("gpufit_keda_query_errors_total", {{"reason", "cancelled"}}), 1);
}

}  // namespace
}  // namespace gpufit::server

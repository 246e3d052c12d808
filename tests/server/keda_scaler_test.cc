// The KEDA external scaler and AutoscalingService through a real C++ gRPC client, with the
// live load from a fake query function the test sets (the Prometheus client has its own
// tests; tests/integration/node/keda.test.js runs the whole loop with a real Prometheus).
#include "server/keda_scaler.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "config/service_config.h"
#include "externalscaler/externalscaler.grpc.pb.h"
#include "gmock/gmock.h"
#include "gpufit/v1/autoscaling.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "metrics/metrics.h"
#include "metrics/metrics_text.h"
#include "server/autoscaling_service.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/keda_metadata.h"
#include "server/temp_file.h"

namespace gpufit::server {
namespace {

namespace es = ::externalscaler;
using ::gpufit::testing::MetricValue;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kConfig[] = R"(
prometheus:
  servers: [http://prometheus.test:9090]
workloads:
  - name: chat
    model: llama-3-8b
    precision: fp8
    traffic: {concurrency: 50, input_tokens: 512, output_tokens: 256, max_context_tokens: 8192}
    slo: {ttft_ms: 2000, tpot_ms: 100}
    autoscaling:
      prometheus_url: http://prometheus.test:9090
      query: sum(running)
      accelerator: l4
      scale_down_stabilization_seconds: 60
  - name: batch
    model: llama-3-8b
    traffic: {concurrency: 10}
)";

// The fake Prometheus: a value, or an error with its reason.
class FakeLoad {
 public:
  void Set(double v) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ = v;
    error_ = absl::OkStatus();
  }
  void Fail(absl::Status s, metrics::QueryError reason) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(s);
    reason_ = reason;
  }
  LoadQueryFn Fn() {
    return [this](const std::string& address, const std::string& query, const QueryCancellation&,
                  metrics::QueryError* reason) -> absl::StatusOr<double> {
      std::lock_guard<std::mutex> lock(mu_);
      last_address_ = address;
      last_query_ = query;
      if (!error_.ok()) {
        *reason = reason_;
        return error_;
      }
      return value_;
    };
  }
  std::string last_query() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_query_;
  }

 private:
  std::mutex mu_;
  double value_ = 0;
  absl::Status error_;
  metrics::QueryError reason_ = metrics::QueryError::kUnreachable;
  std::string last_address_;
  std::string last_query_;
};

class KedaScalerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<config::ServiceConfig> c = config::ParseServiceConfig(kConfig, "gpufitd.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    config_ = std::make_shared<const config::ServiceConfig>(*std::move(c));
    store_ = std::make_unique<ConfigStore>(config_);
    KedaScalerOptions options;
    options.poll_interval = std::chrono::milliseconds(20);
    scaler_ = std::make_unique<KedaScaler>(store_.get(), &metrics_.keda(), options, load_.Fn());
    autoscaling_ = std::make_unique<AutoscalingServiceImpl>(
        store_.get(), &metrics_.keda(), load_.Fn(), [this] {
          std::lock_guard<std::mutex> lock(clock_mu_);
          return now_;
        });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(scaler_.get());
    builder.RegisterService(autoscaling_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    stub_ = es::ExternalScaler::NewStub(channel);
    autoscaling_stub_ = gpufit::v1::AutoscalingService::NewStub(channel);
  }

  void TearDown() override {
    if (scaler_) scaler_->Shutdown();
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      server_->Wait();
    }
  }

  static es::ScaledObjectRef Ref(std::map<std::string, std::string> metadata) {
    es::ScaledObjectRef ref;
    ref.set_name("vllm");
    ref.set_namespace_("serving");
    for (const auto& [k, v] : metadata) (*ref.mutable_scalermetadata())[k] = v;
    return ref;
  }
  static std::map<std::string, std::string> ChatOnL4() {
    return {{"workload", "chat"},
            {"accelerator", "l4"},
            {"serverAddress", "http://prometheus.test:9090"},
            {"query", "sum(vllm:num_requests_running)"},
            {"activationThreshold", "2"}};
  }
  double Counter(const std::string& name, const std::map<std::string, std::string>& labels) {
    return MetricValue(metrics_.Serialize(), name, labels).value_or(-1);
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> lock(clock_mu_);
    now_ += d;
  }

  FakeLoad load_;
  metrics::Metrics metrics_{"test"};
  std::shared_ptr<const config::ServiceConfig> config_;
  std::unique_ptr<ConfigStore> store_;
  std::unique_ptr<KedaScaler> scaler_;
  std::unique_ptr<AutoscalingServiceImpl> autoscaling_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<es::ExternalScaler::Stub> stub_;
  std::unique_ptr<gpufit::v1::AutoscalingService::Stub> autoscaling_stub_;
  std::mutex clock_mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

TEST_F(KedaScalerTest, GetMetricSpecIsThePredictedPerReplicaConcurrency) {
  for (const std::string accelerator : {"l4", "a100-80gb"}) {
    auto metadata = ChatOnL4();
    metadata["accelerator"] = accelerator;
    grpc::ClientContext context;
    es::GetMetricSpecResponse response;
    const grpc::Status s = stub_->GetMetricSpec(&context, Ref(metadata), &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.metricspecs_size(), 1);
    const absl::StatusOr<double> expected =
        PerReplicaTarget(config_->workloads[0], accelerator, 1, *config_);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(response.metricspecs(0).metricname(), "gpufit-chat-concurrency");
    EXPECT_EQ(response.metricspecs(0).targetsizefloat(), *expected);
    EXPECT_EQ(response.metricspecs(0).targetsize(), static_cast<int64_t>(*expected));
  }
  EXPECT_EQ(Counter("gpufit_keda_requests_total", {{"method", "GetMetricSpec"}, {"code", "OK"}}),
            2);
}

TEST_F(KedaScalerTest, GetMetricsIsTheLiveLoadBothWays) {
  load_.Set(7.2);
  grpc::ClientContext context;
  es::GetMetricsRequest request;
  *request.mutable_scaledobjectref() = Ref(ChatOnL4());
  request.set_metricname("s0-gpufit-chat-concurrency");
  es::GetMetricsResponse response;
  const grpc::Status s = stub_->GetMetrics(&context, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.metricvalues_size(), 1);
  EXPECT_EQ(response.metricvalues(0).metricname(), "s0-gpufit-chat-concurrency");
  EXPECT_EQ(response.metricvalues(0).metricvalue(), 8);  // rounded up
  EXPECT_DOUBLE_EQ(response.metricvalues(0).metricvaluefloat(), 7.2);
  EXPECT_EQ(load_.last_query(), "sum(vllm:num_requests_running)");
}

TEST_F(KedaScalerTest, WithoutAQueryTheLoadIsTheConfiguredConcurrency) {
  grpc::ClientContext context;
  es::GetMetricsRequest request;
  *request.mutable_scaledobjectref() = Ref({{"workload", "batch"}, {"accelerator", "l4"}});
  es::GetMetricsResponse response;
  ASSERT_TRUE(stub_->GetMetrics(&context, request, &response).ok());
  EXPECT_EQ(response.metricvalues(0).metricvalue(), 10);
  EXPECT_EQ(response.metricvalues(0).metricname(), "gpufit-batch-concurrency");
}

TEST_F(KedaScalerTest, IsActiveIsLoadAboveTheThreshold) {
  for (const auto& [load, active] : {std::pair{0.0, false}, {2.0, false}, {2.5, true}}) {
    load_.Set(load);
    grpc::ClientContext context;
    es::IsActiveResponse response;
    ASSERT_TRUE(stub_->IsActive(&context, Ref(ChatOnL4()), &response).ok());
    EXPECT_EQ(response.result(), active) << load;
  }
}

TEST_F(KedaScalerTest, StreamIsActivePushesChangesAndEndsOnShutdown) {
  load_.Set(0);
  grpc::ClientContext context;
  auto reader = stub_->StreamIsActive(&context, Ref(ChatOnL4()));
  es::IsActiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_FALSE(response.result());
  load_.Set(5);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_TRUE(response.result());
  load_.Set(1);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_FALSE(response.result());
  // The server shutting down ends the stream cleanly instead of holding the grace period.
  auto finished = std::async(std::launch::async, [&] {
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  });
  scaler_->Shutdown();
  ASSERT_EQ(finished.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(finished.get().ok());
}

TEST_F(KedaScalerTest, StreamIsActiveEndsWhenTheClientCancels) {
  load_.Set(0);
  auto context = std::make_unique<grpc::ClientContext>();
  auto reader = stub_->StreamIsActive(context.get(), Ref(ChatOnL4()));
  es::IsActiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  context->TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The handler sees the cancellation within a poll and records it.
  for (int i = 0; i < 200; ++i) {
    if (Counter("gpufit_keda_requests_total",
                {{"method", "StreamIsActive"}, {"code", "CANCELLED"}}) == 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(
      Counter("gpufit_keda_requests_total", {{"method", "StreamIsActive"}, {"code", "CANCELLED"}}),
      1);
}

TEST_F(KedaScalerTest, BadMetadataIsInvalidArgumentNamingTheKey) {
  auto metadata = ChatOnL4();
  metadata.erase("workload");
  metadata["model"] = "llama-3-8b";
  metadata["tpotMs"] = "soon";
  grpc::ClientContext context;
  es::GetMetricSpecResponse response;
  const grpc::Status s = stub_->GetMetricSpec(&context, Ref(metadata), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("scalerMetadata.tpotMs: must be a number > 0"));
  EXPECT_EQ(Counter("gpufit_keda_requests_total",
                    {{"method", "GetMetricSpec"}, {"code", "INVALID_ARGUMENT"}}),
            1);
}

TEST_F(KedaScalerTest, QueryErrorsAreClearAndCounted) {
  load_.Fail(absl::UnavailableError("Prometheus at http://prometheus.test:9090 unreachable: "
                                    "Connection"),
             metrics::QueryError::kUnreachable);
  {
    grpc::ClientContext context;
    es::GetMetricsRequest request;
    *request.mutable_scaledobjectref() = Ref(ChatOnL4());
    es::GetMetricsResponse response;
    const grpc::Status s = stub_->GetMetrics(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), StartsWith("scalerMetadata.serverAddress: Prometheus at"));
  }
  load_.Fail(absl::InvalidArgumentError("Prometheus refused query"),
             metrics::QueryError::kBadQuery);
  {
    grpc::ClientContext context;
    es::IsActiveResponse response;
    const grpc::Status s = stub_->IsActive(&context, Ref(ChatOnL4()), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), StartsWith("scalerMetadata.query: Prometheus refused"));
  }
  EXPECT_EQ(Counter("gpufit_keda_query_errors_total", {{"reason", "unreachable"}}), 1);
  EXPECT_EQ(Counter("gpufit_keda_query_errors_total", {{"reason", "bad_query"}}), 1);
  EXPECT_EQ(
      Counter("gpufit_keda_requests_total", {{"method", "GetMetrics"}, {"code", "UNAVAILABLE"}}),
      1);
}

// What the dashboards plot per trigger: load, per-replica target and active state, for
// configured workloads only (an inline trigger's model is client input); and every live-load
// query, failed or not, in the duration histogram (the error ratio's denominator).
TEST_F(KedaScalerTest, TriggerSeriesForConfiguredWorkloadsAndQueryDurations) {
  const std::map<std::string, std::string> chat = {{"workload", "chat"}, {"accelerator", "l4"}};
  auto text = [this] { return metrics_.Serialize(); };
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load", chat), std::nullopt);
  {
    grpc::ClientContext context;
    es::GetMetricSpecResponse response;
    ASSERT_TRUE(stub_->GetMetricSpec(&context, Ref(ChatOnL4()), &response).ok());
    EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_target_per_replica", chat),
              response.metricspecs(0).targetsizefloat());
  }
  load_.Set(7.5);
  {
    grpc::ClientContext context;
    es::GetMetricsRequest request;
    *request.mutable_scaledobjectref() = Ref(ChatOnL4());
    es::GetMetricsResponse response;
    ASSERT_TRUE(stub_->GetMetrics(&context, request, &response).ok());
  }
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load", chat), 7.5);
  for (const auto& [load, active] : {std::pair{1.0, 0.0}, {3.0, 1.0}}) {
    load_.Set(load);
    grpc::ClientContext context;
    es::IsActiveResponse response;
    ASSERT_TRUE(stub_->IsActive(&context, Ref(ChatOnL4()), &response).ok());
    EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_active", chat), active) << load;
    EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load", chat), load);
  }
  // A trigger without a query reports the configured concurrency as its load.
  {
    grpc::ClientContext context;
    es::GetMetricsRequest request;
    *request.mutable_scaledobjectref() = Ref({{"workload", "batch"}, {"accelerator", "a100-80gb"}});
    es::GetMetricsResponse response;
    ASSERT_TRUE(stub_->GetMetrics(&context, request, &response).ok());
    EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load",
                          {{"workload", "batch"}, {"accelerator", "a100-80gb"}}),
              10);
  }
  // Inline: served, no series.
  auto inline_metadata = ChatOnL4();
  inline_metadata.erase("workload");
  inline_metadata["model"] = "llama-3-8b";
  {
    grpc::ClientContext context;
    es::IsActiveResponse response;
    ASSERT_TRUE(stub_->IsActive(&context, Ref(inline_metadata), &response).ok());
  }
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load", {{"workload", "llama-3-8b"}}),
            std::nullopt);
  // A failed query is counted as a query too. Queries: GetMetrics, 2 IsActive, inline
  // IsActive, the failing one (the batch trigger has no query).
  load_.Fail(absl::UnavailableError("unreachable"), metrics::QueryError::kUnreachable);
  {
    grpc::ClientContext context;
    es::IsActiveResponse response;
    EXPECT_FALSE(stub_->IsActive(&context, Ref(ChatOnL4()), &response).ok());
  }
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_query_duration_seconds_count"), 5);
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_query_duration_seconds_bucket", {{"le", "+Inf"}}), 5);

  // A reload without `chat`: its series go at the next scaler call; `batch` stays.
  absl::StatusOr<config::ServiceConfig> reduced = config::ParseServiceConfig(R"(
workloads:
  - name: batch
    model: llama-3-8b
    traffic: {concurrency: 10}
)",
                                                                             "gpufitd.yaml");
  ASSERT_TRUE(reduced.ok()) << reduced.status();
  store_->Swap(std::make_shared<const config::ServiceConfig>(*std::move(reduced)));
  {
    grpc::ClientContext context;
    es::GetMetricSpecResponse response;
    ASSERT_TRUE(stub_
                    ->GetMetricSpec(&context, Ref({{"workload", "batch"}, {"accelerator", "l4"}}),
                                    &response)
                    .ok());
  }
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load", chat), std::nullopt);
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_active", chat), std::nullopt);
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_target_per_replica", chat), std::nullopt);
  EXPECT_EQ(MetricValue(text(), "gpufit_keda_trigger_load",
                        {{"workload", "batch"}, {"accelerator", "a100-80gb"}}),
            10);
}

TEST_F(KedaScalerTest, RecommendDividesTheLoadAndStabilisesScaleDown) {
  const double target = *PerReplicaTarget(config_->workloads[0], "l4", 1, *config_);
  const auto recommend = [&](double load) {
    load_.Set(load);
    grpc::ClientContext context;
    gpufit::v1::RecommendResponse response;
    const grpc::Status s =
        autoscaling_stub_->Recommend(&context, gpufit::v1::RecommendRequest(), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.recommendations_size(), 1);  // only `chat` has autoscaling:
    return response.recommendations_size() == 1 ? response.recommendations(0)
                                                : gpufit::v1::ReplicaRecommendation();
  };
  gpufit::v1::ReplicaRecommendation r = recommend(3 * target + 1);
  EXPECT_EQ(r.workload(), "chat");
  EXPECT_EQ(r.accelerator(), "l4");
  EXPECT_EQ(r.target_per_replica(), target);
  EXPECT_EQ(r.raw_replicas(), 4);
  EXPECT_EQ(r.desired_replicas(), 4);
  EXPECT_EQ(r.scale_down_stabilization_window().seconds(), 60);
  EXPECT_EQ(
      MetricValue(metrics_.Serialize(), "gpufit_workload_desired_replicas", {{"workload", "chat"}}),
      4);
  Advance(absl::Seconds(30));
  r = recommend(target / 2);
  EXPECT_EQ(r.raw_replicas(), 1);
  EXPECT_EQ(r.desired_replicas(), 4);  // within the 60 s window
  Advance(absl::Seconds(31));
  r = recommend(target / 2);
  EXPECT_EQ(r.desired_replicas(), 1);
  EXPECT_EQ(
      MetricValue(metrics_.Serialize(), "gpufit_workload_desired_replicas", {{"workload", "chat"}}),
      1);
  r = recommend(0);
  EXPECT_EQ(r.raw_replicas(), 0);
}

TEST_F(KedaScalerTest, RecommendErrors) {
  const auto call = [&](std::vector<std::string> names) {
    gpufit::v1::RecommendRequest request;
    for (const std::string& n : names) request.add_workloads(n);
    grpc::ClientContext context;
    gpufit::v1::RecommendResponse response;
    return autoscaling_stub_->Recommend(&context, request, &response);
  };
  grpc::Status s = call({"nope"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), StartsWith("workloads[0]: no workload 'nope'"));
  s = call({"chat", "batch"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), StartsWith("workloads[1]: workload 'batch' has no autoscaling:"));
  load_.Fail(absl::UnavailableError("Prometheus at x unreachable"),
             metrics::QueryError::kUnreachable);
  s = call({"chat"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), StartsWith("chat.autoscaling.prometheus_url: Prometheus at x"));
  EXPECT_EQ(Counter("gpufit_keda_requests_total", {{"method", "Recommend"}, {"code", "NOT_FOUND"}}),
            1);
}

TEST(KedaConfigTest, AutoscalingBlockIsReadAndChecked) {
  absl::StatusOr<config::ServiceConfig> c = config::ParseServiceConfig(kConfig, "gpufitd.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->autoscaling.count("chat"), 1u);
  const config::WorkloadAutoscaling& a = c->autoscaling.at("chat");
  EXPECT_EQ(a.prometheus_url, "http://prometheus.test:9090");
  EXPECT_EQ(a.query, "sum(running)");
  EXPECT_EQ(a.accelerator, "l4");
  EXPECT_EQ(a.gpus, 1);
  EXPECT_EQ(a.scale_down_stabilization_seconds, 60);
  EXPECT_EQ(c->autoscaling.count("batch"), 0u);

  const auto error = [](const std::string& block, const std::string& servers = "[http://p]") {
    absl::StatusOr<config::ServiceConfig> bad = config::ParseServiceConfig(
        "workloads:\n  - name: w\n    model: llama-3-8b\n    autoscaling: " + block +
            "\nprometheus: {servers: " + servers + "}\n",
        "gpufitd.yaml");
    return bad.ok() ? std::string("ok") : std::string(bad.status().message());
  };
  EXPECT_EQ(error("{query: q, accelerator: l4}", "[]"),
            "gpufitd.yaml:4: workloads[0].autoscaling.prometheus_url: required: list the "
            "Prometheus server under prometheus.servers (the first is the default)");
  EXPECT_THAT(error("{prometheus_url: prom:9090, query: q, accelerator: l4}"),
              HasSubstr("workloads[0].autoscaling.prometheus_url: must be a Prometheus URL"));
  // Only a server the config lists, and the first of them by default.
  EXPECT_EQ(error("{prometheus_url: http://q:9090, query: q, accelerator: l4}"),
            "gpufitd.yaml:4: workloads[0].autoscaling.prometheus_url: 'http://q:9090' is not a "
            "Prometheus server gpufitd may query (prometheus.servers in its config: http://p)");
  for (const std::string& block : {std::string("{query: q, accelerator: l4}"),
                                   std::string("{prometheus_url: HTTP://P:80/, query: q, "
                                               "accelerator: l4}")}) {
    absl::StatusOr<config::ServiceConfig> c = config::ParseServiceConfig(
        "prometheus: {servers: [http://p, https://other:9091/prom]}\nworkloads:\n  - name: w\n"
        "    model: llama-3-8b\n    traffic: {concurrency: 1}\n    autoscaling: " +
            block + "\n",
        "gpufitd.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->autoscaling.at("w").prometheus_url, "http://p") << block;
  }
  EXPECT_THAT(error("{prometheus_url: http://p, query: q, accelerator: tpu}"),
              HasSubstr("workloads[0].autoscaling.accelerator: unknown accelerator 'tpu'"));
  EXPECT_THAT(error("{prometheus_url: http://p, query: q, accelerator: l4, gpus: 0}"),
              HasSubstr("workloads[0].autoscaling.gpus:"));
  EXPECT_THAT(error("{prometheus_url: http://p, query: q, accelerator: l4, window: 3}"),
              HasSubstr("workloads[0].autoscaling.window: unknown field"));
  // The workload's own fields keep their line numbers next to an autoscaling: block.
  absl::StatusOr<config::ServiceConfig> bad = config::ParseServiceConfig(
      "workloads:\n  - name: w\n    model: llama-3-8b\n"
      "    autoscaling: {prometheus_url: http://p, query: q, accelerator: l4}\n"
      "    traffic: {concurrency: -1}\nprometheus: {servers: [http://p]}\n",
      "gpufitd.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              StartsWith("gpufitd.yaml:5: workloads[0].traffic.concurrency:"));
}

// gpufitd registers the scaler on its gRPC port, and a StreamIsActive left open does not
// hold up shutdown until the grace period.
TEST(KedaDaemonTest, ServesTheScalerAndShutsDownWithAStreamOpen) {
  // A stand-in Prometheus whose load is constant, for a stream that stays open.
  httplib::Server prometheus;
  prometheus.Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"success","data":{"resultType":"scalar","result":[1,"0"]}})",
                    "application/json");
  });
  const int prometheus_port = prometheus.bind_to_any_port("127.0.0.1");
  std::thread prometheus_thread([&] { prometheus.listen_after_bind(); });
  const ::gpufit::testing::TempFile config("keda-daemon.yaml");
  config.Write("prometheus: {servers: [http://127.0.0.1:1, http://127.0.0.1:" +
               std::to_string(prometheus_port) + "]}\n");
  std::ostringstream log;
  Logger logger(&log);
  DaemonOptions options = ::gpufit::testing::LoopbackOptions();
  options.config_path = config.path();
  options.shutdown_grace_seconds = 30;
  options.keda_poll_seconds = 1;
  Daemon daemon(options, &logger);
  ASSERT_TRUE(daemon.Start().ok());
  auto stub = es::ExternalScaler::NewStub(::gpufit::testing::InsecureChannelTo(daemon));
  const std::map<std::string, std::string> metadata = {
      {"model", "llama-3-8b"},
      {"accelerator", "l4"},
      {"serverAddress", "http://127.0.0.1:1"},  // nothing listens on port 1
      {"query", "up"}};
  es::ScaledObjectRef ref;
  for (const auto& [k, v] : metadata) (*ref.mutable_scalermetadata())[k] = v;
  {
    grpc::ClientContext context;
    es::GetMetricSpecResponse response;
    const grpc::Status s = stub->GetMetricSpec(&context, ref, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_GE(response.metricspecs(0).targetsize(), 1);
  }
  {
    grpc::ClientContext context;
    es::IsActiveResponse response;
    const grpc::Status s = stub->IsActive(&context, ref, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), HasSubstr("unreachable"));
  }
  // A stream on a trigger whose load is constant: it stays open.
  es::ScaledObjectRef steady = ref;
  (*steady.mutable_scalermetadata())["serverAddress"] =
      "http://127.0.0.1:" + std::to_string(prometheus_port);
  grpc::ClientContext stream_context;
  auto reader = stub->StreamIsActive(&stream_context, steady);
  es::IsActiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_FALSE(response.result());
  const auto start = std::chrono::steady_clock::now();
  daemon.Shutdown();
  // Not a timing assertion on speed, only that shutdown did not wait out the 30 s grace.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(25));
  while (reader->Read(&response)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
  prometheus.stop();
  prometheus_thread.join();
}

}  // namespace
}  // namespace gpufit::server

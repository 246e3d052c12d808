// PlacementService in-process: a Daemon on 127.0.0.1:0 called through a real C++ gRPC stub.
#include <chrono>
#include <future>
#include <memory>
#include <sstream>
#include <string>

#include "api/proto_conversion.h"
#include "cli/cli.h"
#include "config/catalog_loader.h"
#include "config/workload_loader.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "metrics/metrics_text.h"
#include "render/proto_text.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"

namespace gpufit::server {
namespace {

namespace v1 = ::gpufit::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::gpufit::testing::MetricValue;
using ::gpufit::testing::PlacementStubFixture;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::StartsWith;

const std::string kChatYaml = GPUFIT_SOURCE_DIR "/examples/chat-llama3-8b.yaml";

v1::Workload ChatWorkload() {
  absl::StatusOr<core::Workload> w = config::LoadWorkloadFile(kChatYaml);
  EXPECT_TRUE(w.ok()) << w.status();
  return api::ToProto(*w);
}

class PlacementServiceTest : public PlacementStubFixture {
 protected:
  grpc::Status Place(const v1::Workload& workload, v1::PlaceResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::PlaceRequest request;
    *request.mutable_workload() = workload;
    return stub_->Place(&context, request, response);
  }

  std::string Metrics() { return daemon_->metrics().Serialize(); }
};

TEST_F(PlacementServiceTest, PlaceEqualsCoreAndCli) {
  v1::PlaceResponse response;
  const grpc::Status status = Place(ChatWorkload(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  const std::shared_ptr<const core::Catalog> catalog = config::DefaultCatalog();
  absl::StatusOr<core::Workload> w = config::LoadWorkloadFile(kChatYaml);
  ASSERT_TRUE(w.ok());
  absl::StatusOr<core::ResolvedWorkload> r = core::ResolveWorkload(*w, *catalog);
  ASSERT_TRUE(r.ok());
  const v1::Decision expected =
      api::ToProto(core::Place(*r, *catalog), r->objective, catalog->version());
  EXPECT_TRUE(MessageDifferencer::Equals(response.decision(), expected))
      << response.decision().DebugString();
  EXPECT_EQ(response.decision().SerializeAsString(), expected.SerializeAsString());

  std::ostringstream out, err;
  ASSERT_EQ(cli::RunCli({"plan", kChatYaml, "--output", "json"}, out, err), 0) << err.str();
  EXPECT_EQ(render::ToJson(response.decision()), out.str());
}

// The lean views carry the same recommendation as the full answer, with fewer options.
TEST_F(PlacementServiceTest, LeanViewsKeepTheRecommendation) {
  v1::PlaceResponse full;
  ASSERT_TRUE(Place(ChatWorkload(), &full).ok());
  ASSERT_GT(full.decision().options_size(), 3);
  ASSERT_TRUE(full.decision().has_recommendation());

  auto place = [&](v1::DecisionView view, int max_options, v1::PlaceResponse* response) {
    grpc::ClientContext context;
    v1::PlaceRequest request;
    *request.mutable_workload() = ChatWorkload();
    request.set_view(view);
    request.set_max_options(max_options);
    return stub_->Place(&context, request, response);
  };
  v1::PlaceResponse lean;
  ASSERT_TRUE(place(v1::DECISION_VIEW_RECOMMENDATION, 0, &lean).ok());
  EXPECT_EQ(lean.decision().options_size(), 0);
  EXPECT_TRUE(MessageDifferencer::Equals(lean.decision().recommendation(),
                                         full.decision().recommendation()));
  EXPECT_EQ(lean.decision().explanation(), full.decision().explanation());
  EXPECT_EQ(lean.decision().catalog_version(), full.decision().catalog_version());
  EXPECT_LT(lean.ByteSizeLong() * 4, full.ByteSizeLong());

  v1::PlaceResponse top3;
  ASSERT_TRUE(place(v1::DECISION_VIEW_FULL, 3, &top3).ok());
  ASSERT_EQ(top3.decision().options_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(top3.decision().options(i), full.decision().options(i)))
        << i;
  }
  EXPECT_TRUE(MessageDifferencer::Equals(top3.decision().recommendation(),
                                         full.decision().recommendation()));

  v1::PlaceResponse bad;
  grpc::Status status = place(v1::DECISION_VIEW_FULL, -1, &bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("max_options: "));
  status = place(v1::DECISION_VIEW_RECOMMENDATION, 2, &bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("max_options: "));
  status = place(static_cast<v1::DecisionView>(99), 0, &bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("view: unknown value 99"));
}

TEST_F(PlacementServiceTest, PredictEqualsCli) {
  grpc::ClientContext context;
  v1::PredictRequest request;
  *request.mutable_workload() = ChatWorkload();
  request.set_accelerator("l4");
  v1::PredictResponse response;
  const grpc::Status status = stub_->Predict(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.catalog_version(), config::DefaultCatalog()->version());
  EXPECT_EQ(response.option().accelerator(), "l4");

  std::ostringstream out, err;
  ASSERT_EQ(
      cli::RunCli({"predict", kChatYaml, "--accelerator", "l4", "--output", "json"}, out, err), 0)
      << err.str();
  EXPECT_EQ(render::ToJson(response.option()), out.str());
}

TEST_F(PlacementServiceTest, GetCatalog) {
  grpc::ClientContext context;
  v1::GetCatalogResponse response;
  ASSERT_TRUE(stub_->GetCatalog(&context, v1::GetCatalogRequest(), &response).ok());
  EXPECT_TRUE(
      MessageDifferencer::Equals(response.catalog(), api::ToProto(*config::DefaultCatalog())));
}

TEST_F(PlacementServiceTest, InvalidArgumentsLeadWithFieldPath) {
  v1::PlaceResponse response;
  v1::Workload w = ChatWorkload();
  w.mutable_traffic()->set_concurrency(-1);
  grpc::Status s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("workload.traffic.concurrency: "));

  w = ChatWorkload();
  w.set_precision(static_cast<v1::Precision>(99));
  s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "workload.precision: unknown value 99");

  w = ChatWorkload();
  w.mutable_traffic()->set_concurrency(std::numeric_limits<double>::quiet_NaN());
  s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("workload.traffic.concurrency: must be a finite"));

  w = ChatWorkload();
  w.mutable_slo()->set_tpot_ms(std::numeric_limits<double>::infinity());
  s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("workload.slo.tpot_ms: "));

  s = Place(v1::Workload(), &response);  // nothing set
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("workload."));
}

TEST_F(PlacementServiceTest, UnknownModelOrAcceleratorIsNotFound) {
  v1::PlaceResponse response;
  v1::Workload w = ChatWorkload();
  w.set_model("llama-9");
  grpc::Status s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), StartsWith("workload.model: unknown model 'llama-9'"));

  w = ChatWorkload();
  w.add_accelerators("x100");
  s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), StartsWith("workload.accelerators[0]: "));

  grpc::ClientContext context;
  v1::PredictRequest request;
  *request.mutable_workload() = ChatWorkload();
  request.set_accelerator("x100");
  v1::PredictResponse predicted;
  s = stub_->Predict(&context, request, &predicted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), StartsWith("accelerator: unknown accelerator 'x100'"));

  grpc::ClientContext context2;
  request.set_accelerator("");
  s = stub_->Predict(&context2, request, &predicted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("accelerator: required"));

  grpc::ClientContext context3;
  request.set_accelerator("a100-80gb/1g.10gb");
  request.set_gpus(2);
  s = stub_->Predict(&context3, request, &predicted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("gpus: "));
}

TEST_F(PlacementServiceTest, ExpiredDeadlineIsDeadlineExceeded) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
  v1::PlaceRequest request;
  *request.mutable_workload() = ChatWorkload();
  v1::PlaceResponse response;
  EXPECT_EQ(stub_->Place(&context, request, &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(PlacementServiceTest, OversizedRequestIsResourceExhausted) {
  DaemonOptions options;
  options.max_message_bytes = 1024;
  StartWithStub(options);
  v1::Workload w = ChatWorkload();
  w.set_name(std::string(4096, 'x'));
  v1::PlaceResponse response;
  const grpc::Status s = Place(w, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // Small requests still work.
  EXPECT_TRUE(Place(ChatWorkload(), &response).ok());
}

TEST_F(PlacementServiceTest, BadCallsChangeNothing) {
  v1::PlaceResponse first;
  ASSERT_TRUE(Place(ChatWorkload(), &first).ok());
  for (int i = 0; i < 200; ++i) {
    v1::Workload w = ChatWorkload();
    switch (i % 5) {
      case 0:
        w.mutable_traffic()->set_concurrency(-i);
        break;
      case 1:
        w.set_task(static_cast<v1::Task>(1000 + i));
        break;
      case 2:
        w.mutable_architecture()->set_parameters_billion(-1);
        break;
      case 3:
        w.set_model(std::string(i, '?'));
        break;
      default:
        w.mutable_traffic()->set_tokens_per_second(1e300);
        break;
    }
    v1::PlaceResponse response;
    const grpc::Status s = Place(w, &response);
    EXPECT_NE(s.error_code(), grpc::StatusCode::INTERNAL) << s.error_message();
    EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  // Invalid UTF-8 in a proto3 string fails gRPC's own parsing before any handler runs
  // (INTERNAL "Failed to parse" in gRPC C++ 1.51); the server carries on.
  v1::Workload garbled = ChatWorkload();
  garbled.set_model("\xff\xfe");
  v1::PlaceResponse ignored;
  EXPECT_FALSE(Place(garbled, &ignored).ok());
  v1::PlaceResponse last;
  ASSERT_TRUE(Place(ChatWorkload(), &last).ok());
  EXPECT_EQ(first.SerializeAsString(), last.SerializeAsString());
}

TEST_F(PlacementServiceTest, MetricsCountCalls) {
  v1::PlaceResponse response;
  ASSERT_TRUE(Place(ChatWorkload(), &response).ok());
  ASSERT_TRUE(Place(ChatWorkload(), &response).ok());
  v1::Workload bad = ChatWorkload();
  bad.mutable_traffic()->set_concurrency(-1);
  EXPECT_FALSE(Place(bad, &response).ok());
  grpc::ClientContext context;
  v1::GetCatalogResponse catalog;
  ASSERT_TRUE(stub_->GetCatalog(&context, v1::GetCatalogRequest(), &catalog).ok());

  const std::string text = Metrics();
  EXPECT_THAT(
      MetricValue(text, "gpufit_grpc_requests_total", {{"method", "Place"}, {"code", "OK"}}),
      Optional(2.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "Place"}, {"code", "INVALID_ARGUMENT"}}),
              Optional(1.0));
  EXPECT_THAT(
      MetricValue(text, "gpufit_grpc_requests_total", {{"method", "GetCatalog"}, {"code", "OK"}}),
      Optional(1.0));
  EXPECT_THAT(
      MetricValue(text, "gpufit_grpc_request_duration_seconds_count", {{"method", "Place"}}),
      Optional(3.0));
  EXPECT_THAT(MetricValue(text, "gpufit_decisions_total",
                          {{"accelerator", response.decision().recommendation().accelerator()}}),
              Optional(2.0));
  int rejected = 0;
  for (const v1::Option& o : response.decision().options()) rejected += o.feasible() ? 0 : 1;
  double counted = 0;
  for (const char* reason : {"memory", "slo", "capability"}) {
    counted += MetricValue(text, "gpufit_infeasible_options_total", {{"reason", reason}}).value();
  }
  EXPECT_EQ(counted, 2.0 * rejected);
}

// grpc.health.v1.Health/Check through a generic stub (the health protos are not installed
// for C++ clients): request {service}, response {status: SERVING = 1} = bytes 08 01.
int HealthStatus(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status s) { done.set_value(s); });
  const grpc::Status s = done.get_future().get();
  if (!s.ok()) return -static_cast<int>(s.error_code());
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(response_buffer.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& sl : slices)
    bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  if (bytes.empty()) return 0;  // UNKNOWN (proto3 default)
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : -100;
}

TEST_F(PlacementServiceTest, HealthServing) {
  EXPECT_EQ(HealthStatus(channel_, ""), 1);
  EXPECT_EQ(HealthStatus(channel_, "gpufit.v1.PlacementService"), 1);
  EXPECT_EQ(HealthStatus(channel_, "no.such.Service"), -grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace gpufit::server

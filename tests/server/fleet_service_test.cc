// PlanFleet in-process: a Daemon on 127.0.0.1:0 called through a real C++ gRPC stub, against
// `gpufit fleet --output json` for the same fleet file.
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "api/fleet_conversion.h"
#include "api/proto_conversion.h"
#include "cli/cli.h"
#include "config/catalog_loader.h"
#include "config/fleet_loader.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
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
using ::testing::AnyOf;
using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::StartsWith;

const std::string kSevenTenants = GPUFIT_SOURCE_DIR "/examples/fleet/seven-tenants.yaml";
const std::string kMixed = GPUFIT_SOURCE_DIR "/examples/fleet/mixed.yaml";

v1::FleetRequest FleetFromFile(const std::string& path) {
  absl::StatusOr<core::FleetRequest> fleet = config::LoadFleetFile(path);
  EXPECT_TRUE(fleet.ok()) << fleet.status();
  return api::ToProto(*fleet);
}

class FleetServiceTest : public PlacementStubFixture {
 protected:
  grpc::Status PlanFleet(const v1::FleetRequest& fleet, v1::PlanFleetResponse* response,
                         std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    v1::PlanFleetRequest request;
    *request.mutable_fleet() = fleet;
    return stub_->PlanFleet(&context, request, response);
  }
};

// The RPC and the CLI print the same plan: same conversion, same solver. Only the solve time
// differs between two runs.
void ExpectSamePlan(const std::string& file, v1::PlanFleetResponse response) {
  std::ostringstream out, err;
  ASSERT_EQ(cli::RunCli({"fleet", file, "--output", "json"}, out, err), 0) << err.str();
  v1::FleetPlan cli_plan;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.str(), &cli_plan).ok()) << out.str();
  cli_plan.clear_solve_time();
  response.mutable_plan()->clear_solve_time();
  EXPECT_TRUE(MessageDifferencer::Equals(response.plan(), cli_plan))
      << "RPC:\n"
      << response.plan().DebugString() << "CLI:\n"
      << cli_plan.DebugString();
  EXPECT_EQ(render::ToJson(response.plan()), render::ToJson(cli_plan));
}

TEST_F(FleetServiceTest, SevenTenantsEqualsCli) {
  v1::PlanFleetResponse response;
  const grpc::Status status = PlanFleet(FleetFromFile(kSevenTenants), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.catalog_version(), config::DefaultCatalog()->version());
  const v1::FleetPlan& plan = response.plan();
  EXPECT_TRUE(plan.optimal());
  EXPECT_EQ(plan.method(), v1::FLEET_SOLVE_METHOD_MIP);
  EXPECT_NEAR(plan.cost_usd_per_hour(), 1.79, 1e-9);
  ASSERT_EQ(plan.gpus_size(), 1);
  EXPECT_EQ(plan.gpus(0).accelerator(), "a100-80gb");
  ASSERT_EQ(plan.gpus(0).mig_layouts_size(), 1);
  EXPECT_EQ(plan.gpus(0).mig_layouts(0).name(), "7x1g.10gb");
  EXPECT_EQ(plan.gpus(0).mig_layouts(0).mig_config(), "a100-80gb-7x1g.10gb");
  EXPECT_EQ(plan.gpus(0).mig_layouts(0).instances_size(), 7);
  EXPECT_THAT(plan.mig_parted_config(), HasSubstr("  a100-80gb-7x1g.10gb:"));
  ExpectSamePlan(kSevenTenants, response);

  // The fleet metrics show this plan.
  double best_single = 0;
  for (const v1::SingleTypeFleet& single : plan.single_type_fleets()) {
    if (single.feasible() && (best_single == 0 || single.cost_usd_per_hour() < best_single)) {
      best_single = single.cost_usd_per_hour();
    }
  }
  // One A100 split by MIG is itself a single-type fleet: no saving here.
  ASSERT_NEAR(best_single, plan.cost_usd_per_hour(), 1e-9);
  const std::string text = daemon_->metrics().Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "optimal"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "feasible"}}),
              Optional(0.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_cost_usd_per_hour"), Optional(1.79));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_single_type_cost_usd_per_hour"),
              Optional(best_single));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_gap_ratio"),
              Optional(DoubleNear(plan.gap(), 1e-9)));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_gpus", {{"accelerator", "a100-80gb"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_solve_seconds_count"), Optional(1.0));
}

TEST_F(FleetServiceTest, MixedFleetWithMeasurementsEqualsCli) {
  v1::PlanFleetResponse response;
  const grpc::Status status = PlanFleet(FleetFromFile(kMixed), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectSamePlan(kMixed, response);
}

TEST_F(FleetServiceTest, ErrorsCarryRequestFieldPaths) {
  v1::PlanFleetResponse response;
  v1::FleetRequest bad = FleetFromFile(kSevenTenants);
  bad.mutable_workloads(1)->mutable_workload()->mutable_traffic()->set_concurrency(-1);
  grpc::Status status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              StartsWith("fleet.workloads[1].workload.traffic.concurrency: must be > 0"));

  bad = FleetFromFile(kSevenTenants);
  bad.mutable_workloads(2)->mutable_workload()->set_model("llama-9");
  status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), StartsWith("fleet.workloads[2].workload.model: "));

  bad = FleetFromFile(kSevenTenants);
  bad.set_accelerators(0, "x100");
  status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), StartsWith("fleet.accelerators[0]: unknown GPU 'x100'"));

  bad = FleetFromFile(kSevenTenants);
  v1::MeasuredCapacity* m = bad.add_measured_capacities();
  m->set_workload("nobody");
  m->set_accelerator("l4");
  m->set_requests_per_second(1);
  status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), StartsWith("fleet.measured_capacities[0].workload: "));

  bad = FleetFromFile(kSevenTenants);
  v1::BucketedTraffic* b = bad.mutable_workloads(0)->mutable_bucketed_traffic();
  b->set_requests_per_second(4);
  b->add_buckets()->set_fraction(1);
  status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("fleet.workloads[0].bucketed_traffic.buckets[0]"));

  status = PlanFleet(v1::FleetRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("fleet.workloads: must not be empty"));

  bad = FleetFromFile(kSevenTenants);
  bad.clear_accelerators();
  bad.add_accelerators("l4");
  v1::FleetGpuOptions* g = bad.add_gpus();
  g->set_accelerator("l4");
  g->set_max_count(2);
  status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  const std::string text = daemon_->metrics().Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "PlanFleet"}, {"code", "INVALID_ARGUMENT"}}),
              Optional(3.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "PlanFleet"}, {"code", "NOT_FOUND"}}),
              Optional(3.0));
  // Client mistakes and an impossible fleet, none of them a plan: no last-plan gauges.
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "invalid"}}),
              Optional(6.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "infeasible"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "optimal"}}),
              Optional(0.0));
  EXPECT_EQ(MetricValue(text, "gpufit_fleet_plan_cost_usd_per_hour"), std::nullopt);
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_solve_seconds_count"), Optional(0.0));
}

// Issue 13's crash: a 54-byte PlanFleet with price +Inf (or 1e30, 1e300) reached CLP, which
// asserts |objective| < 1e25 and aborts the process. Now each is INVALID_ARGUMENT naming the
// field, and the daemon goes on planning.
TEST_F(FleetServiceTest, OutOfRangeNumbersAreRefusedAndTheDaemonLives) {
  const double kInf = std::numeric_limits<double>::infinity();
  for (double price : {kInf, 1e30, 1e300, std::numeric_limits<double>::quiet_NaN()}) {
    v1::FleetRequest bad = FleetFromFile(kSevenTenants);
    v1::FleetGpuOptions* g = bad.add_gpus();
    g->set_accelerator("a100-80gb");
    g->set_price_usd_per_hour(price);
    v1::PlanFleetResponse response;
    const grpc::Status status = PlanFleet(bad, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << price;
    EXPECT_THAT(status.error_message(), StartsWith("fleet.gpus[0].price_usd_per_hour: ")) << price;
  }
  v1::FleetRequest bad = FleetFromFile(kSevenTenants);
  v1::MeasuredCapacity* m = bad.add_measured_capacities();
  m->set_workload(bad.workloads(0).workload().name());
  m->set_accelerator("l4");
  m->set_concurrency(kInf);
  v1::PlanFleetResponse response;
  grpc::Status status = PlanFleet(bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("fleet.measured_capacities[0].concurrency: "));

  status = PlanFleet(FleetFromFile(kSevenTenants), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NEAR(response.plan().cost_usd_per_hour(), 1.79, 1e-9);
}

TEST_F(FleetServiceTest, MetricSeriesExistBeforeTheFirstCall) {
  const std::string text = daemon_->metrics().Serialize();
  EXPECT_THAT(
      MetricValue(text, "gpufit_grpc_requests_total", {{"method", "PlanFleet"}, {"code", "OK"}}),
      Optional(0.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "PlanFleet"}, {"code", "UNAVAILABLE"}}),
              Optional(0.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_request_duration_seconds_bucket",
                          {{"method", "PlanFleet"}, {"le", "30"}}),
              Optional(0.0));
}

// A fleet CBC cannot close to a zero gap quickly: MIG slices priced in proportion to their
// parent over many request-size buckets (the hard case).
v1::FleetRequest SlowFleet(double time_limit_seconds) {
  v1::FleetRequest fleet;
  fleet.set_name("slow");
  for (const char* id : {"l4", "a100-80gb", "h100-80gb", "l40s"}) fleet.add_accelerators(id);
  for (int w = 0; w < 3; ++w) {
    v1::FleetWorkload* fw = fleet.add_workloads();
    fw->mutable_workload()->set_name("bucketed-" + std::to_string(w));
    fw->mutable_workload()->set_model(w == 1 ? "mistral-7b" : "llama-3-8b");
    fw->mutable_workload()->set_precision(v1::PRECISION_FP8);
    fw->mutable_workload()->mutable_slo()->set_tpot_ms(60 + 10 * w);
    v1::BucketedTraffic* b = fw->mutable_bucketed_traffic();
    b->set_requests_per_second(97 + 31 * w);
    b->set_slice_factor(8);
    for (int i = 0; i < 6; ++i) {
      for (int o = 0; o < 4; ++o) {
        v1::TrafficBucket* tb = b->add_buckets();
        tb->set_input_tokens(64 << i);
        tb->set_output_tokens(32 << o);
        tb->set_fraction(1.0 + (i * 7 + o * 3) % 5);
      }
    }
  }
  fleet.mutable_solver()->set_time_limit_seconds(time_limit_seconds);
  fleet.mutable_solver()->set_relative_gap(0);
  return fleet;
}

// One solve at a time: a call that cannot get the solver before its deadline is told so
// (UNAVAILABLE, recorded by the server) instead of queueing without bound.
TEST_F(FleetServiceTest, BusySolverBoundsTheWait) {
  auto first = std::async(std::launch::async, [&] {
    v1::PlanFleetResponse response;
    return PlanFleet(SlowFleet(3), &response);
  });
  // Let the first call take the solver (building the problem takes a while too).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  v1::PlanFleetResponse response;
  const grpc::Status second =
      PlanFleet(FleetFromFile(kSevenTenants), &response, std::chrono::milliseconds(500));
  EXPECT_THAT(second.error_code(),
              AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED));
  const grpc::Status done = first.get();
  EXPECT_TRUE(done.ok()) << done.error_message();
  const std::string text = daemon_->metrics().Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "PlanFleet"}, {"code", "UNAVAILABLE"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "error"}}), Optional(1.0));
  // The solver is free again.
  EXPECT_TRUE(PlanFleet(FleetFromFile(kSevenTenants), &response).ok());
}

}  // namespace
}  // namespace gpufit::server

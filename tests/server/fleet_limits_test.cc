// PlanFleet under hostile sizes and impatient clients (issue 13), against an in-process
// gpufitd on 127.0.0.1:0 through real gRPC clients:
//  - oversized fleets are refused with INVALID_ARGUMENT naming the field;
//  - the largest fleets the bounds allow are planned within the time limit;
//  - a client that gives up (deadline, cancellation) stops its solve: the lanes free up and
//    small fleets are planned meanwhile;
//  - a gzip bomb is refused before it is inflated, and the daemon's memory stays put.
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/fleet_conversion.h"
#include "config/fleet_loader.h"
#include "core/limits.h"
#include "gmock/gmock.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"
#include "grpc/support/alloc.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/grpc_raw_client.h"

namespace gpufit::server {
namespace {

namespace v1 = ::gpufit::v1;
using ::gpufit::testing::PlacementStubFixture;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kSevenTenants = GPUFIT_SOURCE_DIR "/examples/fleet/seven-tenants.yaml";

v1::FleetRequest SevenTenants() {
  absl::StatusOr<core::FleetRequest> fleet = config::LoadFleetFile(kSevenTenants);
  EXPECT_TRUE(fleet.ok()) << fleet.status();
  return api::ToProto(*fleet);
}

// A plain workload the default catalog serves on most of its GPUs and MIG profiles.
v1::FleetWorkload PlainWorkload(int i) {
  v1::FleetWorkload fw;
  v1::Workload* w = fw.mutable_workload();
  w->set_name("w" + std::to_string(i));
  w->set_model(i % 2 == 0 ? "llama-3-8b" : "mistral-7b");
  w->set_precision(i % 3 == 0 ? v1::PRECISION_FP8 : v1::PRECISION_BF16);
  w->mutable_traffic()->set_concurrency(1 + (i * 7) % 40);
  w->mutable_traffic()->set_input_tokens(256 << (i % 4));
  w->mutable_traffic()->set_output_tokens(128 << (i % 3));
  w->mutable_slo()->set_tpot_ms(50 + 10 * (i % 5));
  return fw;
}

// `n` plain workloads over the whole default catalog (32 GPUs and MIG profiles: 32 n cells).
v1::FleetRequest PlainFleet(int n, double time_limit_seconds) {
  v1::FleetRequest fleet;
  fleet.set_name("plain");
  for (int i = 0; i < n; ++i) *fleet.add_workloads() = PlainWorkload(i);
  fleet.mutable_solver()->set_time_limit_seconds(time_limit_seconds);
  return fleet;
}

// One workload with `buckets` request-size buckets over the whole default catalog: 256 of
// them are the most bucket cells allowed (kMaxFleetBucketCells), a large fleet that CBC does
// not close to a zero gap for tens of seconds.
v1::FleetRequest BucketedFleet(int buckets, double time_limit_seconds, int slice_factor = 4) {
  v1::FleetRequest fleet;
  fleet.set_name("bucketed");
  v1::FleetWorkload* fw = fleet.add_workloads();
  fw->mutable_workload()->set_name("bucketed");
  fw->mutable_workload()->set_model("llama-3-8b");
  fw->mutable_workload()->set_precision(v1::PRECISION_FP8);
  fw->mutable_workload()->mutable_slo()->set_tpot_ms(60);
  v1::BucketedTraffic* b = fw->mutable_bucketed_traffic();
  b->set_requests_per_second(97);
  b->set_slice_factor(slice_factor);
  for (int i = 0; i < buckets; ++i) {
    v1::TrafficBucket* tb = b->add_buckets();
    tb->set_input_tokens(64 + (i * 37) % 4000);
    tb->set_output_tokens(32 + (i * 53) % 1000);
    tb->set_fraction(1.0 + (i * 7) % 5);
  }
  fleet.mutable_solver()->set_time_limit_seconds(time_limit_seconds);
  fleet.mutable_solver()->set_relative_gap(0);
  return fleet;
}

class FleetLimitsTest : public PlacementStubFixture {
 protected:
  grpc::Status Plan(const v1::FleetRequest& fleet, v1::PlanFleetResponse* response,
                    std::chrono::milliseconds deadline = std::chrono::seconds(120),
                    grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    context->set_deadline(std::chrono::system_clock::now() + deadline);
    v1::PlanFleetRequest request;
    *request.mutable_fleet() = fleet;
    return stub_->PlanFleet(context, request, response);
  }

  // Expects INVALID_ARGUMENT whose message starts with `prefix`.
  void ExpectRefused(const v1::FleetRequest& fleet, const std::string& prefix) {
    v1::PlanFleetResponse response;
    const grpc::Status status = Plan(fleet, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(prefix));
  }

  // The daemon still plans: a small fleet gets its plan.
  void ExpectSmallFleetPlanned() {
    v1::PlanFleetResponse response;
    const grpc::Status status = Plan(SevenTenants(), &response, std::chrono::seconds(60));
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_NEAR(response.plan().cost_usd_per_hour(), 1.79, 1e-9);
  }
};

// Issue 13, finding 5: 20,000 workloads (849 KB) ran 106 s of CPU and 1.44 GB. Now each size
// past core/limits.h is refused before anything is placed, naming the field and the bound.
TEST_F(FleetLimitsTest, OversizedFleetsAreRefusedNamingTheField) {
  // With the default --max-message-bytes (1 MiB) gRPC refuses it before it is parsed.
  v1::PlanFleetResponse response;
  const grpc::Status too_big = Plan(PlainFleet(20'000, 1), &response);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The size bounds hold whatever message size an operator allows.
  DaemonOptions options;
  options.max_message_bytes = 16 << 20;
  StartWithStub(options);
  ExpectRefused(PlainFleet(20'000, 1), "fleet.workloads: at most 1000 (got 20000)");

  // Finding 5: one workload with 10,000 buckets and slice_factor 64 ran past 120 s at 900 MB.
  ExpectRefused(BucketedFleet(10'000, 1, 64),
                "fleet.workloads[0].bucketed_traffic.buckets: at most 256 (got 10000)");
  ExpectRefused(BucketedFleet(16, 1, 65),
                "fleet.workloads[0].bucketed_traffic.slice_factor: must be in 1..64");

  // Finding 9: 10,000 repeats of one accelerator id.
  v1::FleetRequest fleet = SevenTenants();
  fleet.clear_accelerators();
  for (int i = 0; i < 10'000; ++i) fleet.add_accelerators("l4");
  ExpectRefused(fleet, "fleet.accelerators: at most 64 (got 10000)");
  fleet.clear_accelerators();
  fleet.add_accelerators("l4");
  fleet.add_accelerators("l4");
  ExpectRefused(fleet, "fleet.accelerators[1]: repeats 'l4'");

  fleet = SevenTenants();
  for (int i = 0; i < core::kMaxFleetGpuTypes + 1; ++i) {
    fleet.add_gpus()->set_accelerator("gpu" + std::to_string(i));
  }
  ExpectRefused(fleet, "fleet.gpus: at most 64 (got 65)");

  fleet = SevenTenants();
  for (int i = 0; i < core::kMaxMeasuredCapacities + 1; ++i) {
    v1::MeasuredCapacity* m = fleet.add_measured_capacities();
    m->set_workload(fleet.workloads(0).workload().name());
    m->set_accelerator("l4");
    m->set_requests_per_second(1);
  }
  ExpectRefused(fleet, "fleet.measured_capacities: at most 10000 (got 10001)");

  // Within every count, too large a problem: 2 x 256 buckets over the full catalog are 16,384
  // bucket cells, and 1000 workloads with 32 buckets each 1,024,000 cells.
  fleet = BucketedFleet(256, 1);
  *fleet.add_workloads() = fleet.workloads(0);
  fleet.mutable_workloads(1)->mutable_workload()->set_name("bucketed-2");
  ExpectRefused(fleet, "fleet.workloads: too many traffic buckets to plan in one solve: 16384");
  fleet = PlainFleet(1000, 1);
  for (v1::FleetWorkload& w : *fleet.mutable_workloads()) {
    *w.mutable_bucketed_traffic() = BucketedFleet(32, 1).workloads(0).bucketed_traffic();
  }
  ExpectRefused(fleet, "fleet.workloads: too large to plan in one solve: 1024000 cells");

  ExpectSmallFleetPlanned();
}

// The largest plain fleet allowed (1000 workloads over the full catalog, 32,000 cells) gets a
// plan for every workload within the daemon's time limit: proven within the gap, or the best
// found when the limit struck, saying so.
TEST_F(FleetLimitsTest, LargestPlainFleetIsPlanned) {
  v1::PlanFleetResponse response;
  const grpc::Status status = Plan(PlainFleet(core::kMaxFleetWorkloads, 10), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::FleetPlan& plan = response.plan();
  ASSERT_EQ(plan.workloads_size(), core::kMaxFleetWorkloads);
  for (const v1::FleetWorkloadPlan& w : plan.workloads()) {
    ASSERT_EQ(w.assignments_size(), 1) << w.name();
    EXPECT_GT(w.assignments(0).replicas(), 0) << w.name();
  }
  EXPECT_GT(plan.cost_usd_per_hour(), 0);
  EXPECT_TRUE(plan.optimal() || plan.time_limit_reached());
  EXPECT_NE(plan.method(), v1::FLEET_SOLVE_METHOD_UNSPECIFIED);
  EXPECT_EQ(plan.single_type_fleets_size(), 8);
}

// The largest bucketed fleet allowed, asked for a zero gap that CBC cannot prove within the
// 1 s given: a plan that serves every bucket, marked as stopped at the limit.
TEST_F(FleetLimitsTest, LargestBucketedFleetStopsAtItsTimeLimitWithAPlan) {
  v1::PlanFleetResponse response;
  const grpc::Status status = Plan(BucketedFleet(core::kMaxFleetBuckets, 1), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::FleetPlan& plan = response.plan();
  EXPECT_TRUE(plan.time_limit_reached());
  EXPECT_FALSE(plan.optimal());
  EXPECT_GT(plan.gap(), 0);
  ASSERT_EQ(plan.workloads_size(), 1);
  double served = 0;
  for (const v1::FleetAssignment& a : plan.workloads(0).assignments()) {
    EXPECT_GT(a.replicas(), 0);
    served += a.load_fraction();
  }
  EXPECT_NEAR(served, 1.0, 1e-9);
  EXPECT_GT(plan.cost_usd_per_hour(), 0);
  EXPECT_LE(plan.lower_bound_usd_per_hour(), plan.cost_usd_per_hour());
}

// Finding 5: with a 5 s client deadline the daemon kept a core busy ~100 s after the client
// gave up, and a 2-workload PlanFleet meanwhile got "UNAVAILABLE fleet solver busy". Here the
// daemon would give a large fleet 60 s; its client gives up after 1 s. The small fleet gets
// its plan, and the large lane frees up (RESOURCE_EXHAUSTED until then) long before the 60 s
// the abandoned solve was allowed.
TEST_F(FleetLimitsTest, ShortDeadlineOnALargeFleetDoesNotHoldUpOthers) {
  DaemonOptions options;
  options.fleet_solve_seconds = 60;
  StartWithStub(options);
  v1::PlanFleetResponse response;
  const grpc::Status big =
      Plan(BucketedFleet(core::kMaxFleetBuckets, 60), &response, std::chrono::seconds(1));
  EXPECT_THAT(big.error_code(), AnyOf(grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::OK));
  ExpectSmallFleetPlanned();
  // A bounded wait that fails only if the abandoned solve ran on (it may still be finishing
  // when the small plan above is answered): 20 s against the 60 s it was allowed.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  grpc::Status next;
  do {
    next = Plan(BucketedFleet(core::kMaxFleetBuckets, 1), &response);
    if (next.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < give_up);
  ASSERT_TRUE(next.ok()) << next.error_message();
  EXPECT_EQ(response.plan().workloads_size(), 1);
}

// Cancellation reaches the solver: a large fleet allowed 60 s whose client cancels after a
// second. The large lane is free again well before those 60 s, so the next large fleet is
// planned (a solver that ignored the cancellation would hold the lane for the whole minute).
TEST_F(FleetLimitsTest, CancelledLargeSolveFreesItsLane) {
  DaemonOptions options;
  options.fleet_solve_seconds = 60;
  StartWithStub(options);
  grpc::ClientContext context;
  auto first = std::async(std::launch::async, [&] {
    v1::PlanFleetResponse response;
    return Plan(BucketedFleet(core::kMaxFleetBuckets, 60), &response, std::chrono::seconds(120),
                &context);
  });
  // Once it holds the large lane, a second large fleet is refused at once.
  const auto started = std::chrono::steady_clock::now();
  while (!daemon_->fleet_lanes().busy(FleetLanes::Lane::kLarge) &&
         std::chrono::steady_clock::now() - started < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(daemon_->fleet_lanes().busy(FleetLanes::Lane::kLarge));
  v1::PlanFleetResponse response;
  const grpc::Status busy = Plan(BucketedFleet(core::kMaxFleetBuckets, 1), &response);
  ASSERT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << busy.error_message();
  EXPECT_THAT(busy.error_message(), HasSubstr("large fleets are planned one at a time"));
  // Small fleets have their own lane meanwhile.
  ExpectSmallFleetPlanned();
  context.TryCancel();
  EXPECT_EQ(first.get().error_code(), grpc::StatusCode::CANCELLED);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  grpc::Status next;
  do {
    next = Plan(BucketedFleet(core::kMaxFleetBuckets, 1), &response);
    if (next.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < give_up);
  ASSERT_TRUE(next.ok()) << next.error_message();
}

// Peak resident memory of this process (the daemon and the test's clients), in bytes.
int64_t PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// Resets the peak to the current resident set (Linux >= 4.0, "5" in proc(5) clear_refs).
bool ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

// Finding 6: ~1 MB of gzip that inflates to 1 GiB was refused only after inflating (RSS
// 1.14 GB, 549 MB resident afterwards). Now it is refused from its grpc-encoding header before
// the message is read: UNIMPLEMENTED, and this process (daemon and client) grows by far less
// than the bomb's inflated size. The daemon keeps answering.
TEST_F(FleetLimitsTest, GzipBombIsRefusedBeforeInflating) {
  constexpr uint64_t kInflatedBytes = uint64_t{1} << 30;
  const std::string bomb = ::gpufit::testing::GzipBomb(kInflatedBytes);
  ASSERT_LT(bomb.size(), 2u << 20);
  const bool reset = ResetPeakRss();
  const int64_t before = PeakRssBytes();
  ASSERT_GT(before, 0);
  const ::gpufit::testing::RawResult result =
      ::gpufit::testing::SendCompressed("127.0.0.1:" + std::to_string(daemon_->grpc_port()), bomb);
  EXPECT_EQ(result.code, GRPC_STATUS_UNIMPLEMENTED) << result.details;
  EXPECT_THAT(result.details, HasSubstr("'gzip' is disabled"));
  const int64_t grown = PeakRssBytes() - before;
  // Without the reset the peak may predate this test (it is not reset by the kernel then).
  if (reset) {
    EXPECT_LT(grown, int64_t{64} << 20) << "peak RSS grew by " << (grown >> 20) << " MiB";
  }
  ExpectSmallFleetPlanned();

  // A C++ client that compresses its (small) request is told the same.
  grpc::ClientContext context;
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  v1::PlanFleetResponse response;
  const grpc::Status status = Plan(SevenTenants(), &response, std::chrono::seconds(60), &context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("Compression algorithm 'gzip' is disabled"));
  ExpectSmallFleetPlanned();
}

}  // namespace
}  // namespace gpufit::server

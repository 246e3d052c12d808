// The front door, against the real binary: every way issue 13's outside probe took gpufitd
// down, starved it or bloated it, replayed on loopback. After each attack the daemon must be
// alive, answer a normal client (/healthz, the extender's /filter, gRPC Place) and have
// stayed inside its memory budget: the chart's container limit
// (helm/gpufit/values.yaml resources.limits.memory), measured as the kernel's peak RSS.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/fleet_conversion.h"
#include "api/proto_conversion.h"
#include "config/fleet_loader.h"
#include "externalscaler/externalscaler.grpc.pb.h"
#include "front_door/gpufitd_process.h"
#include "gmock/gmock.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/fake_prometheus.h"
#include "server/grpc_raw_client.h"
#include "yaml-cpp/yaml.h"

// AddressSanitizer builds keep freed memory in quarantine: RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__)
#define GPUFIT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GPUFIT_TEST_ASAN 1
#endif
#endif
#ifndef GPUFIT_TEST_ASAN
#define GPUFIT_TEST_ASAN 0
#endif

namespace gpufit::testing {
namespace {

namespace v1 = ::gpufit::v1;
namespace es = ::externalscaler;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kGpufitd = GPUFIT_BINARY_DIR "/gpufitd";
const std::string kValues = GPUFIT_SOURCE_DIR "/helm/gpufit/values.yaml";
const std::string kSevenTenants = GPUFIT_SOURCE_DIR "/examples/fleet/seven-tenants.yaml";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(GPUFIT_SHARED_DIR) + "/fixtures/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A file in a fresh temporary directory, removed with it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gpufit-front-door.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

v1::Workload ChatWorkload() {
  v1::Workload w;
  w.set_name("chat");
  w.set_model("llama-3-8b");
  w.set_precision(v1::PRECISION_FP8);
  w.mutable_traffic()->set_concurrency(16);
  return w;
}

v1::FleetRequest SevenTenants() {
  absl::StatusOr<core::FleetRequest> fleet = config::LoadFleetFile(kSevenTenants);
  EXPECT_TRUE(fleet.ok()) << fleet.status();
  return api::ToProto(*fleet);
}

class FrontDoorTest : public ::testing::Test {
 protected:
  void StartDaemon(const std::vector<std::string>& args = {}) {
    const absl::Status s = daemon_.Start(kGpufitd, args);
    ASSERT_TRUE(s.ok()) << s;
    stub_ = v1::PlacementService::NewStub(
        grpc::CreateChannel(daemon_.grpc_target(), grpc::InsecureChannelCredentials()));
  }

  grpc::Status PlanFleet(const v1::FleetRequest& fleet, v1::PlanFleetResponse* response,
                         std::chrono::seconds deadline = std::chrono::seconds(60)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    v1::PlanFleetRequest request;
    *request.mutable_fleet() = fleet;
    return stub_->PlanFleet(&context, request, response);
  }

  // "" if the daemon is alive, answers a normal client on every front door, and its peak RSS
  // stayed inside the chart's memory limit; else what is wrong.
  std::string ServesNormally() {
    if (!daemon_.Alive()) {
      return absl::StrCat("gpufitd exited (", daemon_.exit_code().value_or(-1), "); log:\n",
                          daemon_.Log());
    }
    const std::string health = HttpRequest(daemon_.http_port(), "GET", "/healthz");
    if (HttpStatusOf(health) != 200) return "GET /healthz: " + health.substr(0, 200);
    const std::string filter = HttpRequest(daemon_.http_port(), "POST", "/filter",
                                           Fixture("extender/filter-request-nodes.json"));
    if (HttpStatusOf(filter) != 200 || !absl::StrContains(filter, "\"Error\":\"\"")) {
      return "POST /filter: " + filter.substr(0, 300);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::PlaceRequest request;
    *request.mutable_workload() = ChatWorkload();
    request.set_view(v1::DECISION_VIEW_RECOMMENDATION);
    v1::PlaceResponse response;
    const grpc::Status s = stub_->Place(&context, request, &response);
    if (!s.ok()) return "Place: " + s.error_message();
    if (!response.decision().has_recommendation()) return "Place: no recommendation";
    if (!GPUFIT_TEST_ASAN) {
      const size_t budget = ChartMemoryLimitBytes(kValues);
      if (budget == 0) return "cannot read the chart's memory limit from " + kValues;
      if (daemon_.PeakRssBytes() > budget) {
        return absl::StrCat("peak RSS ", daemon_.PeakRssBytes() >> 20, " MiB > the chart's ",
                            budget >> 20, " MiB");
      }
    }
    return "";
  }

  // The daemon's peak RSS since start stayed below `bytes` (not checked under ASan, whose
  // quarantine keeps freed memory resident).
  void ExpectPeakRssBelow(size_t bytes) {
    if (GPUFIT_TEST_ASAN) return;
    EXPECT_LT(daemon_.PeakRssBytes(), bytes) << "peak " << (daemon_.PeakRssBytes() >> 20) << " MiB";
  }

  GpufitdProcess daemon_;
  std::unique_ptr<v1::PlacementService::Stub> stub_;
};

// Item 1: a 54-byte PlanFleet with a GPU price of +Inf (also 1e30, 1e300) passed `x >= 0`,
// reached CLP, which asserts |objective| < 1e25, and aborted the daemon.
TEST_F(FrontDoorTest, NonFiniteOrHugeFleetPriceIsRefusedNotSolved) {
  StartDaemon();
  for (const double price : {std::numeric_limits<double>::infinity(), 1e30, 1e300}) {
    v1::FleetRequest fleet;
    *fleet.add_workloads()->mutable_workload() = ChatWorkload();
    v1::FleetGpuOptions* gpu = fleet.add_gpus();
    gpu->set_accelerator("l4");
    gpu->set_price_usd_per_hour(price);
    v1::PlanFleetResponse response;
    const grpc::Status s = PlanFleet(fleet, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << price;
    EXPECT_THAT(s.error_message(), StartsWith("fleet.gpus[0].price_usd_per_hour: ")) << price;
    ASSERT_TRUE(daemon_.Alive()) << daemon_.Log();
  }
  v1::PlanFleetResponse response;
  ASSERT_TRUE(PlanFleet(SevenTenants(), &response).ok());
  EXPECT_EQ(ServesNormally(), "");
}

// Item 1, from a file: a catalog price of 1e30 never loads, at startup (exit 2, the field
// named) or on reload (the old config keeps serving, and the next PlanFleet plans).
TEST_F(FrontDoorTest, CatalogPriceOutOfRangeNeverLoads) {
  TempDir dir;
  const std::string bad = dir.Write("bad.yaml", "prices:\n  l4: 1e30\n");
  GpufitdProcess refused;
  const absl::Status s = refused.Start(kGpufitd, {"--config", bad});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(refused.exit_code(), 2);
  EXPECT_THAT(refused.Log(), HasSubstr("prices.l4: must be <= 10000"));

  const std::string config = dir.Write("gpufitd.yaml", "prices:\n  l4: 0.6\n");
  StartDaemon({"--config", config, "--reload-poll-seconds", "0"});
  dir.Write("gpufitd.yaml", "prices:\n  l4: 1e30\n");
  daemon_.Signal(SIGHUP);
  // The reload is logged as failed; wait for that line (bounded), then plan.
  for (int i = 0; i < 500 && !absl::StrContains(daemon_.Log(), "prices.l4: must be <= 10000");
       ++i) {
    usleep(10'000);
  }
  EXPECT_THAT(daemon_.Log(), HasSubstr("prices.l4: must be <= 10000"));
  v1::PlanFleetResponse response;
  const grpc::Status planned = PlanFleet(SevenTenants(), &response);
  ASSERT_TRUE(planned.ok()) << planned.error_message();
  EXPECT_EQ(ServesNormally(), "");
}

// Item 9: 10,000 repeats of one accelerator id were accepted and split the solver's time.
TEST_F(FrontDoorTest, RepeatedAcceleratorIdsAreRefused) {
  StartDaemon();
  v1::FleetRequest fleet = SevenTenants();
  fleet.clear_accelerators();
  for (int i = 0; i < 10000; ++i) fleet.add_accelerators("a100-80gb");
  v1::PlanFleetResponse response;
  grpc::Status s = PlanFleet(fleet, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("fleet.accelerators"));

  fleet = SevenTenants();
  fleet.clear_accelerators();
  fleet.add_accelerators("a100-80gb");
  fleet.add_accelerators("a100-80gb");
  s = PlanFleet(fleet, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("fleet.accelerators[1]: repeats 'a100-80gb'"));
  EXPECT_EQ(ServesNormally(), "");
}

// --- The HTTP port --------------------------------------------------------------------------

// Item 2: 42 MiB of `X-Hn: v` header lines on one connection took RSS from 24 MB to 461 MB
// (four connections: 1.77 GB). Now each is refused at the header limit and closed; the
// daemon's peak grows by little.
TEST_F(FrontDoorTest, HugeHeadersAreRefusedAndCostNothing) {
  StartDaemon();
  const size_t before = daemon_.RssBytes();
  std::string lines;
  for (int i = 0; lines.size() < (1u << 20); ++i) lines += "X-H" + std::to_string(i) + ": v\r\n";
  std::vector<std::thread> clients;
  std::atomic<int> refused{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      const int fd = ConnectLoopback(daemon_.http_port());
      SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
      // 42 MiB in 1 MiB writes; the server closes long before (a failed send ends it).
      for (int mib = 0; mib < 42 && SendAll(fd, lines); ++mib) {
      }
      const std::string answer = ReadUntilClose(fd, std::chrono::seconds(10));
      if (HttpStatusOf(answer) == 431) ++refused;
      ::close(fd);
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(refused.load(), 4);
  ExpectPeakRssBelow(before + (16u << 20));
  EXPECT_EQ(ServesNormally(), "");
}

// Item 3: eight clients sending one byte every 3 s (the --http-threads default) starved
// /healthz and /filter. Now 64 of them hold no thread: a normal client is answered while they
// trickle, and each is closed at the whole-request deadline however it trickles.
TEST_F(FrontDoorTest, SlowClientsStarveNoOneAndAreClosedAtTheDeadline) {
  StartDaemon({"--http-timeout-seconds", "3"});
  std::vector<int> slow;
  for (int i = 0; i < 64; ++i) slow.push_back(ConnectLoopback(daemon_.http_port()));
  const std::string request =
      "POST /filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100000\r\n\r\n";
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (size_t at = 0; !stop; ++at) {
      for (int fd : slow) SendAll(fd, request.substr(at % request.size(), 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(ServesNormally(), "");  // while they trickle
  // Closed at the deadline: each connection reads end-of-stream (bounded wait).
  int closed = 0;
  for (int fd : slow) {
    if (ReadUntilClose(fd, std::chrono::seconds(15)).size() < 1024) ++closed;
  }
  stop = true;
  trickle.join();
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(closed, 64);
  EXPECT_EQ(ServesNormally(), "");
}

// Item 7: a valid 62 MiB /filter body peaked at 464 MB and left 222 MB behind. Now a body
// over --extender-max-body-bytes is refused from its Content-Length, before it is sent.
TEST_F(FrontDoorTest, OversizedExtenderBodyIsRefusedBeforeItIsRead) {
  StartDaemon();
  const int fd = ConnectLoopback(daemon_.http_port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 65011712\r\n\r\n"));
  const std::string answer = ReadUntilClose(fd, std::chrono::seconds(10));
  ::close(fd);
  EXPECT_EQ(HttpStatusOf(answer), 413) << answer.substr(0, 300);
  EXPECT_THAT(answer, HasSubstr("33554432"));
  EXPECT_EQ(ServesNormally(), "");
}

// Item 9: pipelined requests got one answer and a close; a second Content-Length was not a
// framing error.
TEST_F(FrontDoorTest, PipeliningIsAnsweredInOrderAndDoubleContentLengthIsRefused) {
  StartDaemon();
  int fd = ConnectLoopback(daemon_.http_port());
  ASSERT_TRUE(SendAll(fd,
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string answers = ReadUntilClose(fd, std::chrono::seconds(10));
  ::close(fd);
  EXPECT_EQ(HttpResponseCount(answers), 3) << answers;

  fd = ConnectLoopback(daemon_.http_port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      "Content-Length: 40\r\n\r\n{}"));
  answers = ReadUntilClose(fd, std::chrono::seconds(10));
  ::close(fd);
  EXPECT_EQ(HttpStatusOf(answers), 400) << answers;
  EXPECT_EQ(HttpResponseCount(answers), 1);
  EXPECT_EQ(ServesNormally(), "");
}

// --- gRPC ------------------------------------------------------------------------------------

// Item 5: 20,000 workloads ran 106 s of CPU and 1.44 GB; a client that gave up after 5 s left
// a core busy for ~100 s and a 2-workload PlanFleet got UNAVAILABLE after 30 s. Now the
// message is refused by size; a large solve stops at its client's deadline, and a small fleet
// is planned meanwhile.
TEST_F(FrontDoorTest, HugeFleetsAreRefusedAndAbandonedSolvesStop) {
  StartDaemon({"--fleet-solve-seconds", "60"});
  v1::FleetRequest huge;
  for (int i = 0; i < 20000; ++i) {
    v1::Workload* w = huge.add_workloads()->mutable_workload();
    *w = ChatWorkload();
    w->set_name("w" + std::to_string(i));
  }
  v1::PlanFleetResponse response;
  grpc::Status s = PlanFleet(huge, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), StartsWith("fleet.workloads: at most 1000 (got 20000)"));

  // A large bucketed fleet (256 buckets: it runs to any time limit) allowed 60 s, with a
  // client that gives up after 2 s: the solve stops then, and a small fleet is planned.
  v1::FleetRequest big;
  v1::FleetWorkload* fw = big.add_workloads();
  *fw->mutable_workload() = ChatWorkload();
  fw->mutable_workload()->mutable_slo()->set_tpot_ms(60);
  v1::BucketedTraffic* buckets = fw->mutable_bucketed_traffic();
  buckets->set_requests_per_second(97);
  for (int i = 0; i < 256; ++i) {
    v1::TrafficBucket* b = buckets->add_buckets();
    b->set_input_tokens(64 + (i * 37) % 4000);
    b->set_output_tokens(32 + (i * 53) % 1000);
    b->set_fraction(1.0 + (i * 7) % 5);
  }
  big.mutable_solver()->set_time_limit_seconds(60);
  big.mutable_solver()->set_relative_gap(0);
  {
    // The server cuts the solve at the client's deadline by itself; a client that cancels
    // is the harder case.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::PlanFleetRequest request;
    *request.mutable_fleet() = big;
    std::thread cancel([&] {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      context.TryCancel();
    });
    s = stub_->PlanFleet(&context, request, &response);
    cancel.join();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  }
  // The large lane is free again soon (a solve that ran on would hold it for 60 s): a bounded
  // wait that fails only if the abandoned solve keeps going.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  big.mutable_solver()->set_time_limit_seconds(1);
  do {
    s = PlanFleet(big, &response, std::chrono::seconds(30));
  } while (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           std::chrono::steady_clock::now() < give_up);
  EXPECT_TRUE(s.ok()) << s.error_message();
  const grpc::Status small = PlanFleet(SevenTenants(), &response, std::chrono::seconds(30));
  EXPECT_TRUE(small.ok()) << small.error_message();
  EXPECT_EQ(ServesNormally(), "");
}

// Item 6: ~1 MB of gzip inflating to 1 GiB was refused only after inflating (RSS 1.14 GB,
// 549 MB left behind). Now compressed requests are refused from their header.
TEST_F(FrontDoorTest, GzipBombIsRefusedBeforeInflating) {
  StartDaemon();
  const size_t before = daemon_.RssBytes();
  const RawResult result = SendCompressed(daemon_.grpc_target(), GzipBomb(uint64_t{1} << 30));
  EXPECT_EQ(result.code, GRPC_STATUS_UNIMPLEMENTED) << result.details;
  ExpectPeakRssBelow(before + (16u << 20));
  EXPECT_EQ(ServesNormally(), "");
}

// --- KEDA and Prometheus ----------------------------------------------------------------------

es::ScaledObjectRef Trigger(const std::string& server_address) {
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

grpc::Status GetMetrics(es::ExternalScaler::Stub& scaler, const es::ScaledObjectRef& ref,
                        std::chrono::milliseconds deadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  es::GetMetricsRequest request;
  *request.mutable_scaledobjectref() = ref;
  request.set_metricname("s0-gpufit-chat-concurrency");
  es::GetMetricsResponse response;
  return scaler.GetMetrics(&context, request, &response);
}

// Item 4: any gRPC client could make gpufitd connect anywhere; a Prometheus trickling its
// answer held call slots for 60 s past the client's deadline; a 1 GiB answer took RSS to
// 3.15 GB; SIGTERM with a 2 s grace took 57 s while such a call was open.
TEST_F(FrontDoorTest, PrometheusQueriesGoOnlyWhereTheConfigSaysAndNeverHang) {
  FakePrometheus elsewhere(FakePrometheus::Mode::kAnswer);
  FakePrometheus trickle(FakePrometheus::Mode::kTrickle);
  FakePrometheus huge(FakePrometheus::Mode::kHugeChunked);
  FakePrometheus stall(FakePrometheus::Mode::kStall);
  TempDir dir;
  const std::string config = dir.Write(
      "gpufitd.yaml",
      absl::StrCat("prometheus:\n  servers: [", trickle.url(), ", ", huge.url(), ", ", stall.url(),
                   "]\nworkloads:\n  - name: chat\n    model: llama-3-8b\n"
                   "    traffic: {concurrency: 10}\n"
                   "    autoscaling: {query: sum(running), accelerator: l4}\n"));
  StartDaemon(
      {"--config", config, "--shutdown-grace-seconds", "2", "--prometheus-timeout-seconds", "600"});
  auto scaler = es::ExternalScaler::NewStub(
      grpc::CreateChannel(daemon_.grpc_target(), grpc::InsecureChannelCredentials()));

  grpc::Status s = GetMetrics(*scaler, Trigger(elsewhere.url()), std::chrono::seconds(10));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("scalerMetadata.serverAddress: "));
  EXPECT_EQ(elsewhere.accepted(), 0);

  s = GetMetrics(*scaler, Trigger(trickle.url()), std::chrono::seconds(2));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();

  const size_t before = daemon_.RssBytes();
  s = GetMetrics(*scaler, Trigger(huge.url()), std::chrono::seconds(60));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("bytes"));
  ExpectPeakRssBelow(before + (16u << 20));
  EXPECT_EQ(ServesNormally(), "");

  // A query that never ends (the client has no deadline), then SIGTERM: gpufitd exits within
  // its grace period (a bounded wait that fails only if it hangs).
  std::thread stuck([&] { GetMetrics(*scaler, Trigger(stall.url()), std::chrono::hours(1)); });
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return stall.accepted() >= 1; }));
  daemon_.Signal(SIGTERM);
  const std::optional<int> code = daemon_.WaitExit(std::chrono::seconds(20));
  stuck.join();
  ASSERT_TRUE(code.has_value()) << "gpufitd still running 20 s after SIGTERM (grace 2 s)";
  EXPECT_EQ(*code, 0);
}

// --- Config files -------------------------------------------------------------------------------

// Item 8: a --config symlink to /dev/zero grew RSS ~140 MB/s; a FIFO blocked the poll thread
// in fopen while it held its lock, so SIGHUP and SIGTERM hung. Now only regular files are
// read, up to a cap; the old config stays in force, and signals are answered.
TEST_F(FrontDoorTest, ConfigThatIsNotARegularFileKeepsTheOldConfigAndHangsNothing) {
  TempDir dir;
  const std::string config = dir.Write("gpufitd.yaml", "prices:\n  l4: 0.6\n");
  StartDaemon({"--config", config, "--reload-poll-seconds", "1"});
  const size_t before = daemon_.RssBytes();
  ASSERT_EQ(::unlink(config.c_str()), 0);
  ASSERT_EQ(::symlink("/dev/zero", config.c_str()), 0);
  daemon_.Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // two polls and a SIGHUP
  EXPECT_THAT(daemon_.Log(), HasSubstr("not a regular file"));
  ExpectPeakRssBelow(before + (16u << 20));
  EXPECT_EQ(ServesNormally(), "");

  ASSERT_EQ(::unlink(config.c_str()), 0);
  ASSERT_EQ(::mkfifo(config.c_str(), 0600), 0);
  daemon_.Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_THAT(daemon_.Log(), HasSubstr("FIFO"));
  EXPECT_EQ(ServesNormally(), "");
  daemon_.Signal(SIGTERM);
  const std::optional<int> code = daemon_.WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "gpufitd hangs on SIGTERM with a FIFO as its config";
  EXPECT_EQ(*code, 0);
}

// --- Every door at once --------------------------------------------------------------------

// A Nodes-mode filter body of `target_bytes`: the most nodes a call may name (15,000), each
// padded with empty arrays, the densest JSON for the parser (bench/http_memory nodes-dense).
std::string DenseNodesBody(size_t target_bytes) {
  constexpr size_t kNodes = 15'000;
  std::string body = absl::StrCat(
      R"({"Pod":{"metadata":{"name":"p","namespace":"d","annotations":{"gpufit.io/model":)",
      R"("llama-3-8b","gpufit.io/concurrency":"8"}}},"Nodes":{"items":[)");
  body.reserve(target_bytes + 64);
  const size_t per_node = target_bytes / kNodes;
  for (size_t i = 0; i < kNodes; ++i) {
    if (i > 0) body += ",";
    absl::StrAppend(&body, R"({"metadata":{"name":"n)", i, R"("},"x":[)");
    for (size_t b = 40; b + 3 < per_node; b += 3) body += "[],";
    body += "[]]}";
  }
  body += "]}}";
  return body;
}

// A PlanFleetRequest of about `bytes`: a small fleet whose name fills the message.
v1::PlanFleetRequest PaddedFleet(size_t bytes) {
  v1::PlanFleetRequest request;
  *request.mutable_fleet() = SevenTenants();
  request.mutable_fleet()->set_name(std::string(bytes - 4096, 'f'));
  return request;
}

// The worst the clients of every front door can do at once, with the chart's settings: as
// many slow connections as gpufitd accepts, each holding a near-full header; extender bodies
// of the largest size and densest JSON, more than the body budget admits; gRPC calls of the
// largest message size filling every in-flight and queue slot while the fleet solver is busy.
// gpufitd's peak RSS must stay inside the chart's memory limit, and it must keep serving.
TEST_F(FrontDoorTest, EveryDoorAtOnceStaysInsideTheChartsMemoryLimit) {
  const YAML::Node values = YAML::LoadFile(kValues);
  const int max_message_bytes = values["grpc"]["maxMessageBytes"].as<int>();
  StartDaemon({"--max-message-bytes", std::to_string(max_message_bytes)});
  const size_t start_rss = daemon_.RssBytes();

  // gRPC: a bucketed fleet holds the small fleet lane for its time limit; then every slot.
  std::vector<std::thread> threads;
  std::atomic<int> grpc_done{0};
  auto channel = grpc::CreateChannel(daemon_.grpc_target(), grpc::InsecureChannelCredentials());
  auto stub = v1::PlacementService::NewStub(channel);
  threads.emplace_back([&] {
    v1::PlanFleetRequest request;
    *request.mutable_fleet() = SevenTenants();
    v1::FleetWorkload* fw = request.mutable_fleet()->add_workloads();
    fw->mutable_workload()->set_name("bucketed");
    fw->mutable_workload()->set_model("llama-3-8b");
    fw->mutable_workload()->set_precision(v1::PRECISION_FP8);
    v1::BucketedTraffic* b = fw->mutable_bucketed_traffic();
    b->set_requests_per_second(97);
    for (int i = 0; i < 100; ++i) {
      v1::TrafficBucket* tb = b->add_buckets();
      tb->set_input_tokens(64 + (i * 37) % 4000);
      tb->set_output_tokens(32 + (i * 53) % 1000);
      tb->set_fraction(1.0 + (i * 7) % 5);
    }
    request.mutable_fleet()->mutable_solver()->set_time_limit_seconds(10);
    request.mutable_fleet()->mutable_solver()->set_relative_gap(0);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::PlanFleetResponse response;
    stub->PlanFleet(&context, request, &response);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const v1::PlanFleetRequest padded = PaddedFleet(static_cast<size_t>(max_message_bytes));
  constexpr int kGrpcCalls = 32 + 32 + 16;  // in flight + queued (defaults) + refused
  for (int i = 0; i < kGrpcCalls; ++i) {
    threads.emplace_back([&] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
      v1::PlanFleetResponse response;
      stub->PlanFleet(&context, padded, &response);
      ++grpc_done;
    });
  }

  // HTTP: slow connections, each with ~16 KiB of an unfinished header.
  constexpr int kSlowConnections = 448;  // leaves room under the cap (512) for the rest
  std::string partial = "POST /filter HTTP/1.1\r\nHost: x\r\n";
  while (partial.size() < 15 * 1024) partial += "X-Filler: " + std::string(1000, 'x') + "\r\n";
  std::vector<int> slow;
  for (int i = 0; i < kSlowConnections; ++i) {
    const int fd = ConnectLoopback(daemon_.http_port(), std::chrono::seconds(5));
    if (fd < 0) continue;
    SendAll(fd, partial);
    slow.push_back(fd);
  }

  // Extender: the largest, densest bodies, more at once than the body budget admits.
  const std::string dense = DenseNodesBody(32u << 20);
  std::atomic<int> extender_ok{0}, extender_refused{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int round = 0; round < 2; ++round) {
        const std::string r =
            HttpRequest(daemon_.http_port(), "POST", "/filter", dense, std::chrono::seconds(60));
        (HttpStatusOf(r) == 200 ? extender_ok : extender_refused)++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int fd : slow) ::close(fd);

  const size_t peak = daemon_.PeakRssBytes();
  std::printf(
      "every door at once: RSS %zu MiB at start, peak %zu MiB; extender %d answered, "
      "%d refused or cut; %d gRPC calls done\n",
      start_rss >> 20, peak >> 20, extender_ok.load(), extender_refused.load(), grpc_done.load());
  EXPECT_GT(extender_ok.load(), 0);
  EXPECT_EQ(ServesNormally(), "");
}

}  // namespace
}  // namespace gpufit::testing

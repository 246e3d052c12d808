// Overload: past its bounds gpufitd sheds (HTTP 503 + Retry-After, gRPC RESOURCE_EXHAUSTED)
// at once instead of queueing without limit. Every test fills the server deterministically:
// admitted requests block on a latch the test opens, so no assertion depends on timing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gpufit/v1/placement_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "metrics/metrics_text.h"
#include "nlohmann/json.hpp"
#include "server/admission.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/http_server.h"

namespace gpufit::server {
namespace {

using ::gpufit::testing::MetricValue;
using ::testing::HasSubstr;
using ::testing::Optional;

// Holds every thread that Wait()s until Open(); counts the waiters.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Blocks until `n` threads are waiting (a 60 s safety net fails the test, not a timing).
  bool AwaitWaiting(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

// Polls `pred` until true; the 60 s limit is a safety net, not a timing assertion.
template <typename Pred>
bool Eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(OverloadFlagsTest, LimitsParseWithDefaultsAndBounds) {
  absl::StatusOr<DaemonFlags> defaults = ParseDaemonFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->options.grpc_max_in_flight, 32);
  EXPECT_EQ(defaults->options.grpc_max_queued, 32);
  EXPECT_EQ(defaults->options.grpc_max_streams, 256);
  EXPECT_EQ(defaults->options.http_threads, 8);
  EXPECT_EQ(defaults->options.http_max_queued, 64);
  absl::StatusOr<DaemonFlags> f =
      ParseDaemonFlags({"--grpc-max-in-flight=3", "--grpc-max-queued", "0", "--grpc-max-streams=7",
                        "--http-threads", "2", "--http-max-queued=0"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->options.grpc_max_in_flight, 3);
  EXPECT_EQ(f->options.grpc_max_queued, 0);
  EXPECT_EQ(f->options.grpc_max_streams, 7);
  EXPECT_EQ(f->options.http_threads, 2);
  EXPECT_EQ(f->options.http_max_queued, 0);
  for (const char* bad : {"--grpc-max-in-flight=0", "--grpc-max-queued=-1", "--grpc-max-streams=0",
                          "--http-threads=0", "--http-max-queued=x"}) {
    absl::StatusOr<DaemonFlags> r = ParseDaemonFlags({bad});
    ASSERT_FALSE(r.ok()) << bad;
    const std::string flag = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(flag + ": must be an integer >="))
        << bad;
  }
}

TEST(AdmissionTest, AdmitsQueuesThenSheds) {
  std::atomic<int> shed_full{0};
  std::atomic<int> shed_timeout{0};
  AdmissionListener listener;
  listener.shed = [&](const char* reason) {
    (std::string(reason) == "queue_full" ? shed_full : shed_timeout)++;
  };
  Admission admission("grpc", AdmissionLimits{2, 1, std::chrono::seconds(60)}, listener);
  const auto forever = std::chrono::system_clock::time_point::max();
  absl::StatusOr<Admission::Permit> a = admission.Acquire(forever);
  std::optional<Admission::Permit> b = admission.TryAcquire();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(admission.in_flight(), 2);
  EXPECT_FALSE(admission.TryAcquire().has_value());  // non-blocking: full

  // A call whose deadline has passed gives up at once, as queue_timeout.
  absl::StatusOr<Admission::Permit> late = admission.Acquire(std::chrono::system_clock::now());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(late.status().message(), HasSubstr("--grpc-max-in-flight"));
  EXPECT_EQ(shed_timeout.load(), 1);

  // One may wait; it gets the slot the moment one frees up.
  absl::StatusOr<Admission::Permit> waited;
  std::thread waiter([&] { waited = admission.Acquire(forever); });
  ASSERT_TRUE(Eventually([&] { return admission.queued() == 1; }));
  // The queue is full: refused at once, naming both limits.
  absl::StatusOr<Admission::Permit> refused = admission.Acquire(forever);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("2 calls in progress (--grpc-max-in-flight=2) and 1 waiting "
                        "(--grpc-max-queued=1)"));
  EXPECT_EQ(shed_full.load(), 1);
  b->Release();
  waiter.join();
  ASSERT_TRUE(waited.ok());
  EXPECT_EQ(admission.in_flight(), 2);
  EXPECT_EQ(admission.queued(), 0);
  EXPECT_EQ(admission.peak_queued(), 1);

  // A cancelled waiter leaves the queue with CANCELLED, not counted as shed.
  std::atomic<bool> cancel{false};
  absl::StatusOr<Admission::Permit> cancelled;
  std::thread quitter(
      [&] { cancelled = admission.Acquire(forever, [&] { return cancel.load(); }); });
  ASSERT_TRUE(Eventually([&] { return admission.queued() == 1; }));
  cancel = true;
  quitter.join();
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(shed_full.load() + shed_timeout.load(), 2);

  // Permits are RAII: dropping them frees the slots.
  *a = Admission::Permit();
  *waited = Admission::Permit();
  EXPECT_EQ(admission.in_flight(), 0);
}

// The HTTP server alone, with a route that blocks until the test opens the gate.
TEST(HttpOverloadTest, ShedsPastTheBoundServesTheRestAndRecovers) {
  constexpr int kThreads = 2;
  constexpr int kQueued = 3;
  constexpr int kClients = 10;
  Gate gate;
  std::atomic<int> listener_sheds{0};
  HttpServer server;
  server.Post("/slow", [&](const HttpRequest& req) {
    if (req.body == "block") gate.Wait();
    return HttpResponse{200, "application/json", R"({"ok":true})"};
  });
  server.Get("/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok"}; });
  AdmissionListener listener;
  listener.shed = [&](const char*) { listener_sheds++; };
  server.SetConcurrency(AdmissionLimits{kThreads, kQueued, {}}, listener);
  absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();

  struct Outcome {
    int status = 0;
    std::string body;
    std::string retry_after;
  };
  std::vector<Outcome> outcomes(kClients);
  std::atomic<int> done{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", *port);
      client.set_read_timeout(120, 0);  // safety net only
      httplib::Result r = client.Post("/slow", "block", "application/json");
      if (r) outcomes[i] = Outcome{r->status, r->body, r->get_header_value("Retry-After")};
      done++;
    });
  }
  // Two are being served (blocked in the handler), three wait for a thread, and the other
  // five are answered 503 while those are still stuck.
  ASSERT_TRUE(gate.AwaitWaiting(kThreads));
  ASSERT_TRUE(Eventually([&] { return done.load() == kClients - kThreads - kQueued; }));
  HttpServer::Load load = server.load();
  EXPECT_EQ(load.in_flight, kThreads);
  EXPECT_EQ(load.queued, kQueued);
  EXPECT_EQ(load.shed, kClients - kThreads - kQueued);
  EXPECT_EQ(listener_sheds.load(), kClients - kThreads - kQueued);
  // Health probes are answered even now.
  {
    httplib::Client probe("127.0.0.1", *port);
    httplib::Result r = probe.Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  gate.Open();
  for (std::thread& t : clients) t.join();
  int ok = 0;
  int shed = 0;
  for (const Outcome& o : outcomes) {
    if (o.status == 200) {
      ++ok;
    } else {
      ++shed;
      EXPECT_EQ(o.status, 503);
      EXPECT_EQ(o.retry_after, "1");
      const nlohmann::json body = nlohmann::json::parse(o.body);
      EXPECT_THAT(body.at("error").get<std::string>(),
                  HasSubstr("overloaded: 2 requests in progress and 3 waiting (--http-threads, "
                            "--http-max-queued)"));
    }
  }
  EXPECT_EQ(ok, kThreads + kQueued);
  EXPECT_EQ(shed, kClients - kThreads - kQueued);
  // Memory stayed bounded: no more than the bound ever waited.
  EXPECT_EQ(server.load().peak_queued, kQueued);
  // And the next request is served.
  httplib::Client after("127.0.0.1", *port);
  httplib::Result r = after.Post("/slow", "fast", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  server.Stop();
}

// Slow clients hold no worker (the bug before the event-driven server: as many trickling
// clients as worker threads starved the port): with more of them than workers and queue
// slots, POSTs are served and probes answered, and the whole-request deadline closes them.
TEST(HttpOverloadTest, SlowClientsHoldNoWorkerAndAreClosedAtTheDeadline) {
  constexpr int kThreads = 2;
  constexpr int kQueued = 1;
  constexpr int kSlow = 3 * (kThreads + kQueued);
  HttpServer server;
  server.Post("/work", [](const HttpRequest&) {
    return HttpResponse{200, "application/json", R"({"ok":true})"};
  });
  server.Get("/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok"}; });
  server.SetLimits(1 << 20, /*request_timeout_seconds=*/1);
  server.SetConcurrency(AdmissionLimits{kThreads, kQueued, {}});
  absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  // Half requests on raw connections: headers started, never finished.
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(*port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string half = "POST /work HTTP/1.1\r\nHost: x\r\nContent-Le";
    ASSERT_EQ(send(fd, half.data(), half.size(), MSG_NOSIGNAL), static_cast<ssize_t>(half.size()));
    slow.push_back(fd);
  }
  ASSERT_TRUE(Eventually([&] { return server.load().connections_open == kSlow; }));
  EXPECT_EQ(server.load().in_flight, 0);
  httplib::Client client("127.0.0.1", *port);
  httplib::Result served = client.Post("/work", "{}", "application/json");
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  httplib::Result probe = client.Get("/healthz");
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->status, 200);
  EXPECT_EQ(server.load().shed, 0);
  // The deadline closes them (the 60 s limit is only a safety net): each sees end-of-stream.
  for (int fd : slow) {
    timeval tv{60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    EXPECT_LE(recv(fd, &c, 1, 0), 0);
    close(fd);
  }
  ASSERT_TRUE(Eventually([&] { return server.load().connections_open <= 1; }));
  server.Stop();
}

// gpufitd's own wiring: --http-threads / --http-max-queued bound the extender's workers, the
// shed request is counted, and GETs (probes, scrapes) are answered while it sheds.
TEST(HttpOverloadTest, DaemonShedsExtenderCallsAndCountsThem) {
  std::ostringstream log;
  Logger logger(&log, LogLevel::kWarn);
  DaemonOptions options = ::gpufit::testing::LoopbackOptions();
  options.http_threads = 1;
  options.http_max_queued = 0;
  Daemon daemon(options, &logger);
  ASSERT_TRUE(daemon.Start().ok());
  // One extender call holds the only worker until the gate opens.
  Gate gate;
  std::atomic<bool> hold{true};
  daemon.http_server().SetWorkerHookForTest([&] {
    if (hold) gate.Wait();
  });
  int held_status = 0;
  std::thread first([&] {
    httplib::Client c("127.0.0.1", daemon.http_port());
    c.set_read_timeout(120, 0);  // safety net only
    httplib::Result r = c.Post("/filter", R"({"NodeNames":["a"]})", "application/json");
    if (r) held_status = r->status;
  });
  ASSERT_TRUE(gate.AwaitWaiting(1));
  EXPECT_EQ(daemon.http_load().in_flight, 1);
  httplib::Client client("127.0.0.1", daemon.http_port());
  httplib::Result shed = client.Post("/filter", R"({"NodeNames":["a"]})", "application/json");
  ASSERT_TRUE(shed);
  EXPECT_EQ(shed->status, 503);
  EXPECT_EQ(shed->get_header_value("Retry-After"), "1");
  EXPECT_THAT(nlohmann::json::parse(shed->body).at("error").get<std::string>(),
              HasSubstr("overloaded: 1 requests in progress and 0 waiting (--http-threads, "
                        "--http-max-queued)"));
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(MetricValue(metrics->body, "gpufit_requests_shed_total",
                          {{"server", "http"}, {"reason", "queue_full"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(metrics->body, "gpufit_requests_in_flight", {{"server", "http"}}),
              Optional(1.0));
  // Once the worker is free the extender answers again, the held call included.
  hold = false;
  gate.Open();
  first.join();
  EXPECT_EQ(held_status, 200);
  httplib::Result served = client.Post("/filter", R"({"NodeNames":["a"]})", "application/json");
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  daemon.Shutdown();
}

// The whole daemon over gRPC: admitted calls are held on the admission's test hook.
TEST(GrpcOverloadTest, ShedsPastTheBoundServesTheRestAndRecovers) {
  constexpr int kInFlight = 2;
  constexpr int kQueued = 3;
  constexpr int kClients = 10;
  std::ostringstream log;
  Logger logger(&log, LogLevel::kWarn);
  DaemonOptions options = ::gpufit::testing::LoopbackOptions();
  options.grpc_max_in_flight = kInFlight;
  options.grpc_max_queued = kQueued;
  options.grpc_max_queue_wait_ms = 600 * 1000;  // the gate decides, not a timer
  Daemon daemon(options, &logger);
  ASSERT_TRUE(daemon.Start().ok());
  Gate gate;
  std::atomic<bool> hold{true};
  daemon.grpc_admission().SetAdmittedHookForTest([&] {
    if (hold) gate.Wait();
  });
  auto channel = ::gpufit::testing::InsecureChannelTo(daemon);
  auto stub = gpufit::v1::PlacementService::NewStub(channel);

  std::vector<grpc::Status> results(kClients);
  std::atomic<int> done{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      gpufit::v1::GetCatalogResponse response;
      results[i] = stub->GetCatalog(&context, gpufit::v1::GetCatalogRequest(), &response);
      done++;
    });
  }
  ASSERT_TRUE(gate.AwaitWaiting(kInFlight));
  ASSERT_TRUE(Eventually([&] { return daemon.grpc_admission().queued() == kQueued; }));
  ASSERT_TRUE(Eventually([&] { return done.load() == kClients - kInFlight - kQueued; }));
  EXPECT_EQ(daemon.grpc_admission().in_flight(), kInFlight);
  const std::string during = daemon.metrics().Serialize();
  EXPECT_THAT(MetricValue(during, "gpufit_requests_in_flight", {{"server", "grpc"}}),
              Optional(double{kInFlight}));
  EXPECT_THAT(MetricValue(during, "gpufit_requests_queued", {{"server", "grpc"}}),
              Optional(double{kQueued}));
  hold = false;
  gate.Open();
  for (std::thread& t : clients) t.join();
  int ok = 0;
  int shed = 0;
  for (const grpc::Status& s : results) {
    if (s.ok()) {
      ++ok;
      continue;
    }
    ++shed;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("(--grpc-max-in-flight=2) and 3 waiting "
                                             "(--grpc-max-queued=3)"));
  }
  EXPECT_EQ(ok, kInFlight + kQueued);
  EXPECT_EQ(shed, kClients - kInFlight - kQueued);
  EXPECT_EQ(daemon.grpc_admission().peak_queued(), kQueued);
  const std::string after_metrics = daemon.metrics().Serialize();
  EXPECT_THAT(MetricValue(after_metrics, "gpufit_requests_shed_total",
                          {{"server", "grpc"}, {"reason", "queue_full"}}),
              Optional(double{kClients - kInFlight - kQueued}));
  EXPECT_THAT(MetricValue(after_metrics, "gpufit_requests_in_flight", {{"server", "grpc"}}),
              Optional(0.0));
  // The next call succeeds.
  grpc::ClientContext context;
  gpufit::v1::GetCatalogResponse response;
  EXPECT_TRUE(stub->GetCatalog(&context, gpufit::v1::GetCatalogRequest(), &response).ok());
  EXPECT_GT(response.catalog().accelerators_size(), 0);
  daemon.Shutdown();
}

}  // namespace
}  // namespace gpufit::server

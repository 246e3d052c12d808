// gpufitd's HTTP server (server/http_server.h) against real sockets on 127.0.0.1: the limits
// an outside probe broke on the thread-per-connection server (issue 13) — header count and
// bytes, slow clients, the whole-request deadline, body limits (Content-Length and chunked),
// duplicate Content-Length, pipelining, keep-alive, the connection cap and the body budget —
// and the memory they keep bounded. No assertion depends on timing: waits are bounded only
// as a safety net against a hang.
#include "server/http_server.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "metrics/metrics.h"
#include "metrics/metrics_text.h"
#include "nlohmann/json.hpp"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/generated_cluster.h"
#include "server/raw_http_client.h"

// AddressSanitizer builds (GCC defines __SANITIZE_ADDRESS__, clang has __has_feature).
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

namespace gpufit::server {
namespace {

using ::gpufit::testing::MetricValue;
using ::gpufit::testing::RawHttpConnection;
using ::testing::HasSubstr;
using ::testing::Optional;
using Json = nlohmann::json;

// Resident set size of this process, in bytes (/proc/self/statm).
size_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

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

std::string ErrorOf(const RawHttpConnection::Response& r) {
  const Json j = Json::parse(r.body(), nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"] : "(no error)";
}

std::string Post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const char kGetHealthz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

// A server with /healthz (GET), /echo (POST: the body back) and the metrics of `probe`.
class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(const HttpLimits& limits, AdmissionLimits concurrency = {8, 64, {}}) {
    server_ = std::make_unique<HttpServer>();
    server_->Get("/healthz", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", "ok"};
    });
    server_->Get("/metrics", [this](const HttpRequest&) {
      return HttpResponse{200, metrics::kTextContentType, metrics_.Serialize()};
    });
    server_->Post("/echo", [](const HttpRequest& r) {
      return HttpResponse{200, "application/octet-stream", r.body};
    });
    server_->SetLimits(limits);
    server_->SetConcurrency(concurrency);
    server_->SetProbe(&metrics_.http(), metrics::HttpListener::kHttp);
    absl::StatusOr<int> port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }

  std::optional<double> Refused(const std::string& reason) {
    return MetricValue(metrics_.Serialize(), "gpufit_http_requests_refused_total",
                       {{"listener", "http"}, {"reason", reason}});
  }

  metrics::Metrics metrics_{"test"};
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

// --- Headers ----------------------------------------------------------------------------------

// The probe: 42 MiB of `X-Hn: v` lines to GET /healthz took the old server from 24 MB to
// 461 MB, and it stayed there (1.77 GB with four connections).
TEST_F(HttpServerTest, HugeHeadersGet431AndCloseAndLeaveNoMemoryBehind) {
  StartServer(HttpLimits{});
  const size_t before = RssBytes();
  constexpr int kConnections = 4;
  constexpr size_t kHeaderBytes = 42u << 20;
  std::vector<std::optional<RawHttpConnection::Response>> responses(kConnections);
  std::vector<bool> closed(kConnections);
  std::vector<std::thread> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&, c] {
      RawHttpConnection conn(port_);
      std::string lines;
      for (int i = 0; lines.size() < (1u << 20); ++i)
        lines += "X-H" + std::to_string(i) + ": v\r\n";
      bool sent_all = conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
      for (size_t sent = 0; sent_all && sent < kHeaderBytes; sent += lines.size()) {
        sent_all = conn.Send(lines);  // fails once the server has closed
      }
      if (sent_all) conn.Send("\r\n");
      responses[c] = conn.Read();
      closed[c] = conn.AwaitClosedByServer();
    });
  }
  for (std::thread& t : clients) t.join();
  for (int c = 0; c < kConnections; ++c) {
    ASSERT_TRUE(responses[c].has_value()) << "connection " << c;
    EXPECT_EQ(responses[c]->result_int(), 431);
    EXPECT_EQ((*responses[c])[boost::beast::http::field::content_type], "application/json");
    // Whichever limit trips first: 100 lines or 16 KiB.
    EXPECT_THAT(ErrorOf(*responses[c]), HasSubstr("(--http-max-header"));
    EXPECT_TRUE(closed[c]) << "connection " << c;
  }
  EXPECT_THAT(Refused("header_limit"), Optional(double{kConnections}));
  // The server answers as before.
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.Send(kGetHealthz));
  std::optional<RawHttpConnection::Response> ok = conn.Read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->result_int(), 200);
  const size_t after = RssBytes();
#if GPUFIT_TEST_ASAN
  (void)before;
  (void)after;  // ASan's quarantine keeps freed blocks resident; see hostile_test.cc
#else
  // Each connection's header buffer is bounded (16 KiB + one read); 16 MiB is slack for the
  // test's own buffers and the allocator.
  EXPECT_LT(after, before + (16u << 20)) << "RSS grew by " << ((after - before) >> 20) << " MiB";
#endif
}

TEST_F(HttpServerTest, TooManyHeaderLinesGet431NamingTheLimit) {
  HttpLimits limits;
  limits.max_headers = 10;
  StartServer(limits);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10; ++i) request += "X-" + std::to_string(i) + ": v\r\n";
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.Send(request + "\r\n"));
  std::optional<RawHttpConnection::Response> r = conn.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 431);
  EXPECT_THAT(ErrorOf(*r), HasSubstr("more than 10 header lines (--http-max-headers)"));
  EXPECT_TRUE(conn.AwaitClosedByServer());
  // Ten lines (Host and nine more) are fine.
  RawHttpConnection ok(port_);
  request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 9; ++i) request += "X-" + std::to_string(i) + ": v\r\n";
  ASSERT_TRUE(ok.Send(request + "\r\n"));
  r = ok.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
}

// --- Slow clients and the deadline -------------------------------------------------------------

// The probe: eight clients (the --http-threads default) sending a byte every 3 s made /healthz
// and /filter time out for as long as they trickled. Here 64 trickle a byte a second into the
// daemon while a normal client is answered.
TEST(HttpDaemonTest, TricklingClientsDoNotStarveProbesOrTheExtender) {
  std::ostringstream log;
  Logger logger(&log, LogLevel::kWarn);
  DaemonOptions options = ::gpufit::testing::LoopbackOptions();
  options.http_timeout_seconds = 60;  // they keep trickling through the test
  Daemon daemon(options, &logger);
  ASSERT_TRUE(daemon.Start().ok());
  constexpr int kSlow = 64;
  static_assert(kSlow > 8, "more than --http-threads");
  std::vector<std::unique_ptr<RawHttpConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawHttpConnection>(daemon.http_port()));
    ASSERT_TRUE(slow.back()->connected());
  }
  std::atomic<bool> trickling{true};
  std::thread trickle([&] {
    const std::string request = Post("/filter", R"({"NodeNames":["a"]})");
    for (size_t i = 0; trickling && i < request.size() - 1; ++i) {
      for (auto& c : slow) c->Send(std::string_view(&request[i], 1));
      for (int t = 0; trickling && t < 100; ++t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
  ASSERT_TRUE(Eventually([&] { return daemon.http_load().connections_open >= kSlow; }));
  httplib::Client client("127.0.0.1", daemon.http_port());
  client.set_read_timeout(60, 0);  // safety net only
  for (int round = 0; round < 3; ++round) {
    httplib::Result health = client.Get("/healthz");
    ASSERT_TRUE(health) << httplib::to_string(health.error());
    EXPECT_EQ(health->status, 200);
    httplib::Result filter =
        client.Post("/filter", R"({"NodeNames":["a","b"]})", "application/json");
    ASSERT_TRUE(filter) << httplib::to_string(filter.error());
    EXPECT_EQ(filter->status, 200);
    EXPECT_EQ(Json::parse(filter->body)["NodeNames"], Json::array({"a", "b"}));
  }
  // They were still trickling all along.
  EXPECT_GE(daemon.http_load().connections_open, kSlow);
  trickling = false;
  trickle.join();
  slow.clear();
  daemon.Shutdown();
}

// A request that trickles in faster than any per-read timeout is still closed at the
// whole-request deadline.
TEST_F(HttpServerTest, TricklingRequestIsClosedAtTheWholeRequestDeadline) {
  HttpLimits limits;
  limits.request_timeout = std::chrono::seconds(2);
  StartServer(limits);
  RawHttpConnection conn(port_);
  std::atomic<bool> closed{false};
  std::thread trickle([&] {
    // A byte every 100 ms, never ending the headers: far inside any per-read timeout.
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; !closed; ++i) {
      if (i < static_cast<int>(request.size())) {
        if (!conn.Send(std::string_view(&request[i], 1))) break;
      } else if (!conn.Send("X")) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  EXPECT_TRUE(conn.AwaitClosedByServer());
  closed = true;
  trickle.join();
  // Counted as the connection closes (the client may see the close first).
  EXPECT_TRUE(Eventually([&] { return Refused("deadline") == 1.0; }));
  // The deadline is per request: a client that is quick is served on a new connection.
  RawHttpConnection ok(port_);
  ASSERT_TRUE(ok.Send(kGetHealthz));
  std::optional<RawHttpConnection::Response> r = ok.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
}

// A connection that sends nothing at all is closed at the request deadline, not kept for
// the (long) keep-alive idle timeout.
TEST_F(HttpServerTest, SilentNewConnectionIsClosedAtTheRequestDeadline) {
  HttpLimits limits;
  limits.request_timeout = std::chrono::seconds(1);
  limits.idle_timeout = std::chrono::seconds(600);  // past the 60 s safety net
  StartServer(limits);
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.connected());
  EXPECT_TRUE(conn.AwaitClosedByServer());
}

// --- Bodies -------------------------------------------------------------------------------------

TEST_F(HttpServerTest, ContentLengthOverTheLimitIs413BeforeTheBodyIsSent) {
  HttpLimits limits;
  limits.max_body_bytes = 1000;
  StartServer(limits);
  RawHttpConnection conn(port_);
  // Only the headers: the answer comes without the body ever being sent.
  ASSERT_TRUE(conn.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
      "1001\r\n\r\n"));
  std::optional<RawHttpConnection::Response> r = conn.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 413);
  EXPECT_EQ(ErrorOf(*r), "body: too large (the limit is 1000 bytes)");
  EXPECT_TRUE(conn.AwaitClosedByServer());
  EXPECT_THAT(Refused("body_limit"), Optional(1.0));
  // At the limit: served.
  RawHttpConnection ok(port_);
  ASSERT_TRUE(ok.Send(Post("/echo", std::string(1000, 'x'))));
  r = ok.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), std::string(1000, 'x'));
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredOnlyWhenTheBodyIsWanted) {
  HttpLimits limits;
  limits.max_body_bytes = 1000;
  StartServer(limits);
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::optional<RawHttpConnection::Response> interim = conn.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->result_int(), 100);
  ASSERT_TRUE(conn.Send("hello"));
  std::optional<RawHttpConnection::Response> r = conn.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), "hello");
  RawHttpConnection big(port_);
  ASSERT_TRUE(big.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
  r = big.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 413);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
  HttpLimits limits;
  limits.max_body_bytes = 100 * 1024;
  StartServer(limits);
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";  // 16 KiB
  for (int i = 0; i < 100 && conn.Send(chunk); ++i) {
  }
  std::optional<RawHttpConnection::Response> r = conn.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 413);
  EXPECT_EQ(ErrorOf(*r), "body: too large (the limit is 102400 bytes)");
  EXPECT_TRUE(conn.AwaitClosedByServer());
  // Under the limit, chunked bodies are read whole.
  RawHttpConnection ok(port_);
  ASSERT_TRUE(ok.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      chunk + chunk + "3\r\nabc\r\n0\r\n\r\n"));
  r = ok.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body().size(), 2 * 0x4000 + 3);
  // Released once the answer is written (which the client may see first).
  EXPECT_TRUE(Eventually([&] { return server_->load().body_bytes_in_flight == 0; }));
}

// The probe: a second Content-Length header was not a framing error.
TEST_F(HttpServerTest, DuplicateOrConflictingContentLengthIs400AndClose) {
  StartServer(HttpLimits{});
  for (const std::string headers : {
           "Content-Length: 5\r\nContent-Length: 5\r\n",
           "Content-Length: 5\r\nContent-Length: 6\r\n",
           "Content-Length: 5, 5\r\n",
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
       }) {
    RawHttpConnection conn(port_);
    // Followed by a second request that a lenient parser would read out of the body.
    ASSERT_TRUE(conn.Send("POST /echo HTTP/1.1\r\nHost: x\r\n" + headers + "\r\nhello" +
                          std::string(kGetHealthz)));
    std::optional<RawHttpConnection::Response> r = conn.Read();
    ASSERT_TRUE(r.has_value()) << headers;
    EXPECT_EQ(r->result_int(), 400) << headers;
    EXPECT_THAT(ErrorOf(*r), HasSubstr("bad request")) << headers;
    EXPECT_TRUE(conn.AwaitClosedByServer()) << headers;
  }
  EXPECT_THAT(Refused("malformed"), Optional(4.0));
}

// --- Keep-alive and pipelining -------------------------------------------------------------

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  StartServer(HttpLimits{});
  RawHttpConnection conn(port_);
  // Three requests in one send: a POST (run on a worker), a GET (run inline) and a POST.
  ASSERT_TRUE(conn.Send(Post("/echo", "first") + kGetHealthz + Post("/echo", "third")));
  std::optional<RawHttpConnection::Response> r1 = conn.Read();
  std::optional<RawHttpConnection::Response> r2 = conn.Read();
  std::optional<RawHttpConnection::Response> r3 = conn.Read();
  ASSERT_TRUE(r1.has_value() && r2.has_value() && r3.has_value());
  EXPECT_EQ(r1->body(), "first");
  EXPECT_EQ(r2->body(), "ok");
  EXPECT_EQ(r3->body(), "third");
  EXPECT_TRUE(r3->keep_alive());
  // And the connection carries more.
  ASSERT_TRUE(conn.Send(kGetHealthz));
  std::optional<RawHttpConnection::Response> r4 = conn.Read();
  ASSERT_TRUE(r4.has_value());
  EXPECT_EQ(r4->result_int(), 200);
  EXPECT_EQ(server_->load().connections_open, 1);
}

TEST_F(HttpServerTest, KeepAliveConnectionsSurviveIdlingUntilTheIdleTimeout) {
  HttpLimits limits;
  limits.idle_timeout = std::chrono::seconds(3);
  StartServer(limits);
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.Send(kGetHealthz));
  ASSERT_TRUE(conn.Read().has_value());
  // Idle for a while (under the idle timeout), then reused.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(conn.Send(Post("/echo", "again")));
  std::optional<RawHttpConnection::Response> r = conn.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body(), "again");
  // Left idle, it is closed (at the idle timeout; 60 s is the safety net).
  EXPECT_TRUE(conn.AwaitClosedByServer());
  EXPECT_TRUE(Eventually([&] { return server_->load().connections_open == 0; }));
  // An idle close is not a refusal.
  EXPECT_THAT(Refused("deadline"), Optional(0.0));
}

// kube-scheduler's HTTP client (Go) keeps idle connections 90 s and does not retry a POST it
// has written: the server must not close idle connections sooner.
TEST(HttpDefaultsTest, IdleTimeoutOutlastsGoClientsIdleConnections) {
  EXPECT_GT(HttpLimits{}.idle_timeout, std::chrono::seconds(90));
  absl::StatusOr<DaemonFlags> defaults = ParseDaemonFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_GT(defaults->options.http_idle_timeout_seconds, 90);
  const std::string usage(DaemonUsage());
  const size_t flag = usage.find("--http-idle-timeout-seconds N");
  ASSERT_NE(flag, std::string::npos);
  const std::string help = usage.substr(flag, usage.find("\n  --", flag + 1) - flag);
  EXPECT_THAT(help, HasSubstr("120"));
}

TEST(HttpDefaultsTest, FlagsParseAndCheckTheBudgetAgainstTheBodyLimit) {
  absl::StatusOr<DaemonFlags> d = ParseDaemonFlags({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->options.http_timeout_seconds, 10);
  EXPECT_EQ(d->options.http_max_connections, 512);
  EXPECT_EQ(d->options.http_max_header_bytes, 16384);
  EXPECT_EQ(d->options.http_max_headers, 100);
  EXPECT_EQ(d->options.http_body_budget_bytes, 32u << 20);
  absl::StatusOr<DaemonFlags> f =
      ParseDaemonFlags({"--http-idle-timeout-seconds=200", "--http-max-connections", "9",
                        "--http-max-header-bytes=2048", "--http-max-headers=7",
                        "--extender-max-body-bytes=1000", "--http-body-budget-bytes=5000"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->options.http_idle_timeout_seconds, 200);
  EXPECT_EQ(f->options.http_max_connections, 9);
  EXPECT_EQ(f->options.http_max_header_bytes, 2048);
  EXPECT_EQ(f->options.http_max_headers, 7);
  EXPECT_EQ(f->options.http_body_budget_bytes, 5000u);
  for (const char* bad :
       {"--http-idle-timeout-seconds=0", "--http-max-connections=0", "--http-max-header-bytes=100",
        "--http-max-headers=x", "--http-body-budget-bytes=0"}) {
    absl::StatusOr<DaemonFlags> r = ParseDaemonFlags({bad});
    ASSERT_FALSE(r.ok()) << bad;
    const std::string flag = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(flag + ": must be an integer >="));
  }
  absl::StatusOr<DaemonFlags> small = ParseDaemonFlags({"--http-body-budget-bytes=1000"});
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(std::string(small.status().message()),
              HasSubstr("--http-body-budget-bytes: must be at least --extender-max-body-bytes"));
}

TEST_F(HttpServerTest, HeadAnswersLikeGetWithoutABody) {
  StartServer(HttpLimits{});
  RawHttpConnection conn(port_);
  ASSERT_TRUE(conn.Send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(kGetHealthz)));
  // HEAD's answer has headers only: read it raw, up to the GET's answer after it.
  std::string raw;
  char buf[4096];
  while (raw.find("\r\n\r\nok") == std::string::npos) {
    const ssize_t n = recv(conn.fd(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    raw.append(buf, static_cast<size_t>(n));
  }
  EXPECT_THAT(raw, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(raw, HasSubstr("Content-Length: 2\r\n\r\nHTTP/1.1 200 OK"));
}

// --- The connection cap -------------------------------------------------------------------------

TEST_F(HttpServerTest, ConnectionsPastTheCapGet503) {
  HttpLimits limits;
  limits.max_connections = 4;
  StartServer(limits);
  std::vector<std::unique_ptr<RawHttpConnection>> open;
  for (int i = 0; i < limits.max_connections; ++i) {
    open.push_back(std::make_unique<RawHttpConnection>(port_));
    ASSERT_TRUE(open.back()->connected());
  }
  ASSERT_TRUE(Eventually([&] { return server_->load().connections_open == 4; }));
  RawHttpConnection extra(port_);
  ASSERT_TRUE(extra.connected());
  extra.Send(kGetHealthz);
  std::optional<RawHttpConnection::Response> r = extra.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 503);
  EXPECT_EQ((*r)[boost::beast::http::field::retry_after], "1");
  EXPECT_EQ(ErrorOf(*r), "too many connections: 4 open (--http-max-connections); retry later");
  EXPECT_TRUE(extra.AwaitClosedByServer());
  EXPECT_EQ(server_->load().connections_refused, 1);
  EXPECT_THAT(MetricValue(metrics_.Serialize(), "gpufit_http_connections_refused_total",
                          {{"listener", "http"}, {"reason", "max_connections"}}),
              Optional(1.0));
  EXPECT_THAT(
      MetricValue(metrics_.Serialize(), "gpufit_http_connections_open", {{"listener", "http"}}),
      Optional(4.0));
  // The open ones are served; once one goes, a new connection is served too.
  ASSERT_TRUE(open[0]->Send(kGetHealthz));
  r = open[0]->Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
  open.pop_back();
  ASSERT_TRUE(Eventually([&] { return server_->load().connections_open == 3; }));
  RawHttpConnection again(port_);
  ASSERT_TRUE(again.Send(kGetHealthz));
  r = again.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
}

// --- The body budget ----------------------------------------------------------------------------

// Bodies past the budget wait for room, and get 503 + Retry-After when none frees up in time;
// bodiless GETs never wait.
TEST_F(HttpServerTest, BodyBudgetMakesLargeBodiesWaitThen503AndNeverBlocksProbes) {
  constexpr size_t kBody = 1 << 20;
  HttpLimits limits;
  limits.max_body_bytes = kBody;
  limits.body_budget_bytes = kBody + kHttpBodyPaddingBytes;  // one body at a time
  limits.body_budget_wait = std::chrono::milliseconds(200);
  StartServer(limits);
  Gate gate;
  server_->SetWorkerHookForTest([&] { gate.Wait(); });
  // The first body holds the whole budget while its handler is held.
  std::thread first([&] {
    RawHttpConnection conn(port_);
    conn.Send(Post("/echo", std::string(kBody, 'a')));
    std::optional<RawHttpConnection::Response> r = conn.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->result_int(), 200);
    EXPECT_EQ(r->body().size(), kBody);
  });
  ASSERT_TRUE(gate.AwaitWaiting(1));
  EXPECT_EQ(server_->load().body_bytes_in_flight, kBody + kHttpBodyPaddingBytes);
  RawHttpConnection second(port_);
  ASSERT_TRUE(second.Send(Post("/echo", std::string(kBody, 'b'))));
  std::optional<RawHttpConnection::Response> r = second.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 503);
  EXPECT_EQ((*r)[boost::beast::http::field::retry_after], "1");
  EXPECT_THAT(ErrorOf(*r), HasSubstr("(--http-body-budget-bytes); retry later"));
  EXPECT_THAT(Refused("body_budget"), Optional(1.0));
  // Probes are answered meanwhile.
  RawHttpConnection probe(port_);
  ASSERT_TRUE(probe.Send(kGetHealthz));
  r = probe.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result_int(), 200);
  gate.Open();
  first.join();
  EXPECT_TRUE(Eventually([&] { return server_->load().body_bytes_in_flight == 0; }));
  EXPECT_EQ(server_->load().peak_body_bytes_in_flight, kBody + kHttpBodyPaddingBytes);
}

// Many large bodies at once: they take turns within the budget, and all are served.
TEST_F(HttpServerTest, ConcurrentLargeBodiesStayWithinTheBudget) {
  constexpr size_t kBody = 1 << 20;
  constexpr int kClients = 16;
  HttpLimits limits;
  limits.max_body_bytes = kBody;
  limits.body_budget_bytes = 3 * (kBody + kHttpBodyPaddingBytes);
  limits.body_budget_wait = std::chrono::seconds(60);  // safety net: they wait their turn
  limits.request_timeout = std::chrono::seconds(60);
  StartServer(limits);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      RawHttpConnection conn(port_);
      const std::string body(kBody, static_cast<char>('a' + i));
      conn.Send(Post("/echo", body));
      std::optional<RawHttpConnection::Response> r = conn.Read();
      if (r.has_value() && r->result_int() == 200 && r->body() == body) ok++;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_LE(server_->load().peak_body_bytes_in_flight, limits.body_budget_bytes);
  EXPECT_TRUE(Eventually([&] { return server_->load().body_bytes_in_flight == 0; }));
}

// --- Stop ----------------------------------------------------------------------------------------

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndAnswersRequestsInProgress) {
  StartServer(HttpLimits{});
  Gate gate;
  server_->SetWorkerHookForTest([&] { gate.Wait(); });
  RawHttpConnection idle(port_);
  ASSERT_TRUE(idle.Send(kGetHealthz));
  ASSERT_TRUE(idle.Read().has_value());
  RawHttpConnection busy(port_);  // being handled
  ASSERT_TRUE(busy.Send(Post("/echo", "in progress")));
  ASSERT_TRUE(gate.AwaitWaiting(1));
  RawHttpConnection sending(port_);  // headers and half the body received
  const std::string request = Post("/echo", "half sent");
  const size_t split = request.size() - 4;
  ASSERT_TRUE(sending.Send(request.substr(0, split)));
  // Both bodies hold their share of the body budget once the server has read their headers
  // ("in progress" and "half sent", each with the parser's padding): then the half-sent one
  // is a request under way, not an idle connection.
  ASSERT_TRUE(Eventually(
      [&] { return server_->load().body_bytes_in_flight >= 11 + 9 + 2 * kHttpBodyPaddingBytes; }));
  ASSERT_TRUE(Eventually([&] { return server_->load().connections_open == 3; }));
  std::thread stop([&] { server_->Stop(); });
  EXPECT_TRUE(idle.AwaitClosedByServer());
  gate.Open();
  std::optional<RawHttpConnection::Response> r = busy.Read();
  EXPECT_TRUE(r.has_value() && r->body() == "in progress" && !r->keep_alive());
  EXPECT_TRUE(sending.Send(request.substr(split)));
  r = sending.Read();
  EXPECT_TRUE(r.has_value() && r->body() == "half sent" && !r->keep_alive());
  EXPECT_TRUE(sending.AwaitClosedByServer());
  stop.join();  // no ASSERT between the thread's start and here: a failure must not skip it
  // Stopped: nothing listens any more.
  RawHttpConnection after(port_);
  EXPECT_FALSE(after.connected());
}

// --- The daemon's extender: memory -------------------------------------------------------------

// The probe: one valid 62 MiB /filter body peaked at 464 MB and left 222 MB in per-thread
// parser buffers. Large bodies through the daemon leave no such residue.
TEST(HttpDaemonTest, LargeExtenderBodiesLeaveNoMemoryBehind) {
  std::ostringstream log;
  Logger logger(&log, LogLevel::kWarn);
  Daemon daemon(::gpufit::testing::LoopbackOptions(), &logger);
  ASSERT_TRUE(daemon.Start().ok());
  const std::string body = ::gpufit::testing::NodesArgs(6000);  // ~21 MB of Node objects
  httplib::Client client("127.0.0.1", daemon.http_port());
  client.set_read_timeout(120, 0);  // safety net only
  // Warm up (first-call allocations that stay for good), then measure several calls.
  ASSERT_EQ(client.Post("/filter", ::gpufit::testing::NodesArgs(20), "application/json")->status,
            200);
  const size_t before = RssBytes();
  for (int i = 0; i < 3; ++i) {
    httplib::Result r =
        client.Post(i % 2 == 0 ? "/filter" : "/prioritize", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  const size_t after = RssBytes();
  EXPECT_TRUE(Eventually([&] { return daemon.http_load().body_bytes_in_flight == 0; }));
  daemon.Shutdown();
#if GPUFIT_TEST_ASAN
  (void)before;
  (void)after;  // ASan's quarantine keeps freed blocks resident
#else
  // Each call peaks at ~2x its body; what stays is far below one body. (The test's own copy
  // of the body was made before `before`.)
  EXPECT_LT(after, before + body.size() / 2)
      << "RSS grew by " << ((after - before) >> 20) << " MiB after 3 calls of "
      << (body.size() >> 20) << " MiB";
#endif
}

}  // namespace
}  // namespace gpufit::server

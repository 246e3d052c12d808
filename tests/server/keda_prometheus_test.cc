// Reading Prometheus /api/v1/query answers (server/prometheus_client.h): values, the result
// shapes gpufit accepts, and every error with its code and metric reason; then the HTTP(S)
// client against a real in-process HTTP server (httplib), a closed port, and a fake
// Prometheus (tests/server/fake_prometheus.h) that trickles, streams a gigabyte or stalls:
// every query ends by its whole-exchange deadline, its caller's deadline or cancellation, or
// the client's shutdown, and reads no more than the size cap.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <ostream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/fake_prometheus.h"
#include "server/prometheus_client.h"

// AddressSanitizer builds (GCC defines __SANITIZE_ADDRESS__, clang has __has_feature): ASan's
// quarantine keeps freed memory resident, so RSS bounds are not checked there.
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

using ::gpufit::testing::FakePrometheus;
using metrics::QueryError;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kQuery[] = "sum(vllm:num_requests_running)";

absl::StatusOr<double> Parse(int status, const std::string& body, QueryError* reason = nullptr) {
  return ParseQueryResponse(status, body, kQuery, reason);
}

TEST(KedaPrometheusTest, VectorOfOneSample) {
  absl::StatusOr<double> v = Parse(200, R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{},"value":[1700000000.123,"7.25"]}]}})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 7.25);
}

TEST(KedaPrometheusTest, Scalar) {
  absl::StatusOr<double> v =
      Parse(200, R"({"status":"success","data":{"resultType":"scalar","result":[1.5,"42"]}})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 42);
}

TEST(KedaPrometheusTest, EmptyVectorIsZero) {
  absl::StatusOr<double> v =
      Parse(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 0);
}

struct ErrorCase {
  const char* name;
  int http_status;
  const char* body;
  absl::StatusCode code;
  QueryError reason;
  const char* message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class KedaPrometheusErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(KedaPrometheusErrorTest, ClearErrorAndReason) {
  const ErrorCase& c = GetParam();
  QueryError reason = QueryError::kUnreachable;
  absl::StatusOr<double> v = Parse(c.http_status, c.body, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), c.code) << v.status();
  EXPECT_EQ(reason, c.reason) << v.status();
  EXPECT_THAT(std::string(v.status().message()), HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Answers, KedaPrometheusErrorTest,
    ::testing::Values(
        ErrorCase{"BadQuery", 400,
                  R"({"status":"error","errorType":"bad_data","error":"1:5: parse error"})",
                  absl::StatusCode::kInvalidArgument, QueryError::kBadQuery,
                  "Prometheus refused query 'sum(vllm:num_requests_running)' (HTTP 400): "
                  "bad_data: 1:5: parse error"},
        ErrorCase{"ExecutionError", 422,
                  R"({"status":"error","errorType":"execution","error":"too many samples"})",
                  absl::StatusCode::kInvalidArgument, QueryError::kBadQuery, "too many samples"},
        ErrorCase{"ServerError", 503, "Service Unavailable", absl::StatusCode::kUnavailable,
                  QueryError::kHttpStatus, "Prometheus answered HTTP 503"},
        ErrorCase{"NotFound", 404, "404 page not found", absl::StatusCode::kInvalidArgument,
                  QueryError::kHttpStatus, "is serverAddress the Prometheus base URL?"},
        ErrorCase{"NotJson", 200, "<html>hello</html>", absl::StatusCode::kUnavailable,
                  QueryError::kBadResponse, "is not a Prometheus API response"},
        ErrorCase{"NoData", 200, R"({"status":"success"})", absl::StatusCode::kUnavailable,
                  QueryError::kBadResponse, "has no data.resultType"},
        ErrorCase{"StatusError", 200, R"({"status":"error","errorType":"timeout","error":"x"})",
                  absl::StatusCode::kInvalidArgument, QueryError::kBadQuery, "timeout: x"},
        ErrorCase{"SeveralSeries", 200,
                  R"({"status":"success","data":{"resultType":"vector","result":[
                      {"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}})",
                  absl::StatusCode::kInvalidArgument, QueryError::kBadResult,
                  "returned 2 series; it must return one (aggregate it, e.g. sum(...))"},
        ErrorCase{"Matrix", 200,
                  R"({"status":"success","data":{"resultType":"matrix","result":[]}})",
                  absl::StatusCode::kInvalidArgument, QueryError::kBadResult, "returned a matrix"},
        ErrorCase{"NaN", 200,
                  R"({"status":"success","data":{"resultType":"vector","result":[
                      {"metric":{},"value":[1,"NaN"]}]}})",
                  absl::StatusCode::kInvalidArgument, QueryError::kBadResult,
                  "query result is NaN"},
        ErrorCase{"ValueNotNumber", 200,
                  R"({"status":"success","data":{"resultType":"scalar","result":[1,"abc"]}})",
                  absl::StatusCode::kUnavailable, QueryError::kBadResponse,
                  "value 'abc' is not a number"},
        ErrorCase{"ValueNotPair", 200,
                  R"({"status":"success","data":{"resultType":"scalar","result":7}})",
                  absl::StatusCode::kUnavailable, QueryError::kBadResponse,
                  "is not [time, \"value\"]"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(KedaPrometheusTest, ValidatesAddresses) {
  EXPECT_TRUE(ValidatePrometheusAddress("http://127.0.0.1:9090").ok());
  EXPECT_TRUE(ValidatePrometheusAddress("https://thanos.example/prometheus/").ok());
  EXPECT_FALSE(ValidatePrometheusAddress("127.0.0.1:9090").ok());
  EXPECT_FALSE(ValidatePrometheusAddress("http://").ok());
  EXPECT_FALSE(ValidatePrometheusAddress("ftp://x").ok());
  EXPECT_FALSE(ValidatePrometheusAddress("http://user:pw@prom:9090").ok());
}

// Only the parts that are read are built; the count of series is still exact.
TEST(KedaPrometheusTest, ManySeriesAreCountedNotBuilt) {
  std::string body = R"({"status":"success","data":{"resultType":"vector","result":[)";
  for (int i = 0; i < 5000; ++i) {
    if (i > 0) body += ",";
    body += R"({"metric":{"pod":"p)" + std::to_string(i) + R"(","deep":[[[[{"a":[1,2,3]}]]]]},)" +
            R"("value":[1,"1"]})";
  }
  body += "]}}";
  QueryError reason = QueryError::kUnreachable;
  absl::StatusOr<double> v = Parse(200, body, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(reason, QueryError::kBadResult);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("returned 5000 series"));
  // Labels and unknown fields around the one sample are skipped, the sample is read.
  v = Parse(200, R"({"status":"success","warnings":["w"],"data":{"resultType":"vector",
      "result":[{"metric":{"x":{"y":[1,{"z":2}]}},"value":[1,"4.5"],"extra":[[]]}]},"x":1})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 4.5);
  // A pair of three is not a pair, whatever follows it.
  v = Parse(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"2",3,4,5]}})",
            &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(reason, QueryError::kBadResponse);
  // Fields that should be strings but are containers are still not strings.
  v = Parse(200, R"({"status":{"a":1},"data":{}})", &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(reason, QueryError::kBadResponse);
  // Truncated JSON is not an API answer.
  v = Parse(200, R"({"status":"success","data":{"resultType":"vector","result":[)", &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(reason, QueryError::kBadResponse);
}

PrometheusClientOptions Timeout(double seconds) {
  PrometheusClientOptions options;
  options.timeout_seconds = seconds;
  return options;
}

// A real HTTP server standing in for Prometheus, under a path prefix.
TEST(KedaPrometheusTest, QueriesOverHttpWithPathPrefix) {
  httplib::Server server;
  std::string seen_query;
  server.Get("/prom/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
    seen_query = req.get_param_value("query");
    res.set_content(R"({"status":"success","data":{"resultType":"scalar","result":[1,"3"]}})",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  QueryError reason = QueryError::kBadResult;
  absl::StatusOr<double> v =
      QueryPrometheus("http://127.0.0.1:" + std::to_string(port) + "/prom/",
                      "sum(x{a=\"b c\"}) / 2 + 1%3", Timeout(5), {}, &reason);
  server.stop();
  thread.join();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 3);
  EXPECT_EQ(seen_query, "sum(x{a=\"b c\"}) / 2 + 1%3");
}

TEST(KedaPrometheusTest, SendsAPlainGetWithHostAndNoCredentials) {
  FakePrometheus prometheus(FakePrometheus::Mode::kAnswer);
  absl::StatusOr<double> v = QueryPrometheus(
      "http://127.0.0.1:" + std::to_string(prometheus.port()) + "/a/b/", "up", Timeout(5));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 3);
  const std::string request = prometheus.last_request();
  EXPECT_THAT(request, StartsWith("GET /a/b/api/v1/query?query=up HTTP/1.1\r\n"));
  EXPECT_THAT(request, HasSubstr("\r\nHost: 127.0.0.1:" + std::to_string(prometheus.port())));
  EXPECT_THAT(request, ::testing::Not(HasSubstr("Authorization")));
}

// A port on 127.0.0.1 that nothing listens on: bound (so the kernel picks it) and closed.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(KedaPrometheusTest, UnreachableIsUnavailable) {
  const int port = ClosedPort();
  QueryError reason = QueryError::kBadResult;
  absl::StatusOr<double> v =
      QueryPrometheus("http://127.0.0.1:" + std::to_string(port), kQuery, Timeout(2), {}, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(reason, QueryError::kUnreachable);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("unreachable"));
}

TEST(KedaPrometheusTest, HostNamesAreResolved) {
  FakePrometheus prometheus(FakePrometheus::Mode::kAnswer, ::gpufit::testing::OneSampleAnswer("7"));
  absl::StatusOr<double> v =
      QueryPrometheus("http://localhost:" + std::to_string(prometheus.port()), "up", Timeout(5));
  // localhost may resolve to ::1 first; the client tries every address.
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 7);
  QueryError reason = QueryError::kBadResult;
  v = QueryPrometheus("http://no-such-host.invalid:9090", "up", Timeout(5), {}, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  // A resolver that does not answer at all (a sandbox) ends at the query's timeout instead.
  if (reason != QueryError::kTimeout) {
    EXPECT_EQ(reason, QueryError::kUnreachable);
    EXPECT_THAT(std::string(v.status().message()),
                HasSubstr("cannot resolve 'no-such-host.invalid'"));
  }
}

// The probe's finding: an answer trickled a byte every 100 ms held the query for as long as
// the server liked (the timeout was per read). The timeout covers the whole exchange.
TEST(KedaPrometheusTest, ATrickledAnswerEndsAtTheWholeExchangeTimeout) {
  FakePrometheus prometheus(FakePrometheus::Mode::kTrickle);
  QueryError reason = QueryError::kBadResult;
  absl::StatusOr<double> v = QueryPrometheus(prometheus.url(), kQuery, Timeout(1), {}, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable) << v.status();
  EXPECT_EQ(reason, QueryError::kTimeout);
  EXPECT_THAT(std::string(v.status().message()),
              HasSubstr("did not answer within 1 s (the whole query"));
  EXPECT_GT(prometheus.body_bytes_sent(), 0u) << "the answer was under way";
  // And the connection is closed, not left to the server.
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return prometheus.closed_by_client() == 1; }));
}

TEST(KedaPrometheusTest, TheCallersDeadlineEndsTheQuery) {
  FakePrometheus prometheus(FakePrometheus::Mode::kTrickle);
  QueryCancellation cancel;
  cancel.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  QueryError reason = QueryError::kBadResult;
  absl::StatusOr<double> v =
      QueryPrometheus(prometheus.url(), kQuery, Timeout(600), cancel, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded) << v.status();
  EXPECT_EQ(reason, QueryError::kTimeout);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("before the caller's deadline"));
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return prometheus.closed_by_client() == 1; }));
  // A deadline already past: no connection at all.
  cancel.deadline = std::chrono::steady_clock::now();
  v = QueryPrometheus(prometheus.url(), kQuery, Timeout(600), cancel, &reason);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(prometheus.accepted(), 1);
}

TEST(KedaPrometheusTest, CancellingStopsAQueryInFlight) {
  FakePrometheus prometheus(FakePrometheus::Mode::kStall);
  std::atomic<bool> cancelled{false};
  QueryCancellation cancel;
  cancel.cancelled = [&] { return cancelled.load(); };
  QueryError reason = QueryError::kBadResult;
  auto query = std::async(std::launch::async, [&] {
    return QueryPrometheus(prometheus.url(), kQuery, Timeout(600), cancel, &reason);
  });
  ASSERT_TRUE(FakePrometheus::WaitFor([&] { return prometheus.requests() == 1; }));
  cancelled = true;
  ASSERT_EQ(query.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "the query did not stop when its caller cancelled";
  const absl::StatusOr<double> v = query.get();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kCancelled) << v.status();
  EXPECT_EQ(reason, QueryError::kCancelled);
  EXPECT_TRUE(FakePrometheus::WaitFor([&] { return prometheus.closed_by_client() == 1; }));
}

TEST(KedaPrometheusTest, ShutdownStopsQueriesInFlightAndLater) {
  FakePrometheus prometheus(FakePrometheus::Mode::kStall);
  PrometheusClient client(Timeout(600));
  auto query =
      std::async(std::launch::async, [&] { return client.Query(prometheus.url(), "up", {}); });
  ASSERT_TRUE(FakePrometheus::WaitFor([&] { return prometheus.requests() == 1; }));
  client.ShutdownBy(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  ASSERT_EQ(query.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "the query outlived the shutdown deadline";
  absl::StatusOr<double> v = query.get();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable) << v.status();
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("gpufitd is shutting down"));
  QueryError reason = QueryError::kBadResult;
  v = client.Query(prometheus.url(), "up", {}, &reason);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("gpufitd is shutting down"));
  EXPECT_EQ(reason, QueryError::kCancelled);
  EXPECT_EQ(prometheus.accepted(), 1);
}

// max_concurrent_queries bounds the answers in memory at once: a query past it waits for a
// slot, within its own deadline, without connecting.
TEST(KedaPrometheusTest, QueriesPastTheConcurrencyCapWaitForASlot) {
  FakePrometheus stuck(FakePrometheus::Mode::kStall);
  PrometheusClientOptions options = Timeout(600);
  options.max_concurrent_queries = 1;
  PrometheusClient client(options);
  std::atomic<bool> cancelled{false};
  QueryCancellation first_cancel;
  first_cancel.cancelled = [&] { return cancelled.load(); };
  auto first =
      std::async(std::launch::async, [&] { return client.Query(stuck.url(), "up", first_cancel); });
  ASSERT_TRUE(FakePrometheus::WaitFor([&] { return stuck.requests() == 1; }));
  QueryCancellation second_cancel;
  second_cancel.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  const absl::StatusOr<double> second = client.Query(stuck.url(), "up", second_cancel);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kDeadlineExceeded) << second.status();
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("waiting for one of 1 query slots"));
  EXPECT_EQ(stuck.accepted(), 1);
  cancelled = true;
  ASSERT_EQ(first.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(first.get().status().code(), absl::StatusCode::kCancelled);
  // The slot is back.
  FakePrometheus answering(FakePrometheus::Mode::kAnswer);
  EXPECT_TRUE(client.Query(answering.url(), "up", {}).ok());
}

// What a Prometheus answers is quoted in errors, but never more than a line of it.
TEST(KedaPrometheusTest, LongErrorTextIsCut) {
  const std::string huge(100000, 'e');
  QueryError reason = QueryError::kUnreachable;
  absl::StatusOr<double> v =
      Parse(400, R"({"status":"error","errorType":"bad_data","error":")" + huge + R"("})", &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(reason, QueryError::kBadQuery);
  EXPECT_LT(v.status().message().size(), 1200u);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("... (100000 bytes)"));
  // A field of the wrong type is not quoted (nor an exception).
  v = Parse(400, R"({"status":"error","errorType":{"x":1},"error":"bad"})", &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr(": error: bad"));
  v = Parse(200, R"({"status":"error","errorType":[1],"error":{"a":"b"}})", &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("failed: error: (no message)"));
}

size_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// The probe's finding: a 1 GiB answer took gpufitd's RSS to 3.15 GB. Streamed here (the fake
// never holds more than 64 KiB of it), with and without a Content-Length.
TEST(KedaPrometheusTest, AGigabyteAnswerStopsAtTheCap) {
  PrometheusClientOptions options = Timeout(120);
  PrometheusClient client(options);
  {  // Warm up (first-use allocations), so that RSS compares like with like.
    FakePrometheus prometheus(FakePrometheus::Mode::kAnswer);
    ASSERT_TRUE(client.Query(prometheus.url(), "up", {}).ok());
  }
  for (const auto mode :
       {FakePrometheus::Mode::kHugeChunked, FakePrometheus::Mode::kHugeDeclared}) {
    SCOPED_TRACE(mode == FakePrometheus::Mode::kHugeChunked ? "chunked" : "Content-Length");
    FakePrometheus prometheus(mode);
    const size_t before = RssBytes();
    QueryError reason = QueryError::kBadResult;
    const absl::StatusOr<double> v = client.Query(prometheus.url(), "up", {}, &reason);
    const size_t after = RssBytes();
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable) << v.status();
    EXPECT_EQ(reason, QueryError::kTooLarge);
    EXPECT_THAT(std::string(v.status().message()),
                HasSubstr("answered more than 1048576 bytes, the cap on a query answer"));
    EXPECT_TRUE(FakePrometheus::WaitFor([&] { return prometheus.closed_by_client() == 1; }));
    // The client stopped reading at the cap: the fake got nowhere near its gigabyte out
    // (kernel socket buffers hold a few MiB).
    EXPECT_LT(prometheus.body_bytes_sent(), uint64_t{64} << 20);
#if !GPUFIT_TEST_ASAN
    // At most the cap twice over (a growing string doubles) and the read buffer, plus a
    // margin for the allocator: "a few MB beyond the cap".
    EXPECT_LT(after > before ? after - before : 0, options.max_response_bytes * 2 + (6u << 20))
        << "RSS grew from " << before << " to " << after;
#else
    (void)before;
    (void)after;
#endif
  }
}

// https:// as before the client moved to Beast: the server's certificate is verified
// against the CA (the system's unless set) and the host name (SNI and SAN).
class KedaPrometheusTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/gpufit-prom-tls-" + std::to_string(getpid()));
    const std::string script = "(set -e; mkdir -p " + *dir_ + "; cd " + *dir_ + R"sh(
key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@"; }
key -x509 -keyout ca.key -out ca.pem -days 1 -subj /CN=prom-test-ca
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
key -keyout server.key -out server.csr -subj /CN=localhost
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 0x77 -out server.pem -days 1 -extfile san.ext
) >/dev/null 2>&1)sh";
    ok_ = std::system(script.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
  }
  void SetUp() override {
    if (!ok_) GTEST_SKIP() << "openssl could not make test certificates";
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  static std::string* dir_;
  static bool ok_;
};
std::string* KedaPrometheusTlsTest::dir_ = nullptr;
bool KedaPrometheusTlsTest::ok_ = false;

TEST_F(KedaPrometheusTlsTest, QueriesOverHttpsAndVerifiesTheServer) {
  httplib::SSLServer server(Path("server.pem").c_str(), Path("server.key").c_str());
  ASSERT_TRUE(server.is_valid());
  server.Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"success","data":{"resultType":"scalar","result":[1,"11"]}})",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  PrometheusClientOptions options = Timeout(10);
  options.ca_file = Path("ca.pem");
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    const absl::StatusOr<double> v =
        QueryPrometheus("https://" + host + ":" + std::to_string(port), "up", options);
    EXPECT_TRUE(v.ok()) << host << ": " << v.status();
    if (v.ok()) {
      EXPECT_EQ(*v, 11);
    }
  }
  // The system's CAs do not know the test CA: refused, nothing read.
  QueryError reason = QueryError::kBadResult;
  const absl::StatusOr<double> v =
      QueryPrometheus("https://127.0.0.1:" + std::to_string(port), "up", Timeout(10), {}, &reason);
  server.stop();
  thread.join();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(reason, QueryError::kUnreachable);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("TLS handshake"));
}

}  // namespace
}  // namespace gpufit::server

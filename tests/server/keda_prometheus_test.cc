// Reading Prometheus /api/v1/query answers (server/prometheus_client.h): values, the result
// shapes gpufit accepts, and every error with its code and metric reason; then the HTTP
// client against a real in-process HTTP server (httplib) and against a closed port.
#include <chrono>
#include <ostream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/prometheus_client.h"

namespace gpufit::server {
namespace {

using metrics::QueryError;
using ::testing::HasSubstr;

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
  absl::StatusOr<double> v = QueryPrometheus("http://127.0.0.1:" + std::to_string(port) + "/prom/",
                                             "sum(x{a=\"b c\"})", 5, &reason);
  server.stop();
  thread.join();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 3);
  EXPECT_EQ(seen_query, "sum(x{a=\"b c\"})");
}

TEST(KedaPrometheusTest, UnreachableIsUnavailable) {
  // Bind and close a port, so nothing listens there.
  int port = 0;
  {
    httplib::Server probe;
    port = probe.bind_to_any_port("127.0.0.1");
  }
  QueryError reason = QueryError::kBadResult;
  absl::StatusOr<double> v =
      QueryPrometheus("http://127.0.0.1:" + std::to_string(port), kQuery, 2, &reason);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(reason, QueryError::kUnreachable);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("unreachable"));
}

}  // namespace
}  // namespace gpufit::server

#include "server/prometheus_client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace gpufit::server {
namespace {

using metrics::QueryError;
using nlohmann::json;

absl::Status Fail(QueryError why, QueryError* reason, absl::Status status) {
  if (reason != nullptr) *reason = why;
  return status;
}

// scheme://host[:port] and the path prefix ("" or "/prometheus", without a trailing '/').
struct SplitUrl {
  std::string origin;
  std::string path_prefix;
};

SplitUrl Split(std::string_view address) {
  const size_t scheme_end = address.find("://");
  const size_t path = address.find('/', scheme_end == std::string_view::npos ? 0 : scheme_end + 3);
  SplitUrl url;
  url.origin = std::string(address.substr(0, path));
  if (path != std::string_view::npos) url.path_prefix = std::string(address.substr(path));
  while (!url.path_prefix.empty() && url.path_prefix.back() == '/') url.path_prefix.pop_back();
  return url;
}

// A sample value: Prometheus encodes floats as strings ("1.5", "NaN", "+Inf").
absl::StatusOr<double> SampleValue(const json& pair, std::string_view what, QueryError* reason) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(absl::StrCat("Prometheus answer: ", std::string(what),
                                                    " is not [time, \"value\"]")));
  }
  const std::string text = pair[1].get<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(absl::StrCat("Prometheus answer: ", std::string(what),
                                                    " value '", text, "' is not a number")));
  }
  if (!std::isfinite(value)) {
    return Fail(QueryError::kBadResult, reason,
                absl::InvalidArgumentError(
                    absl::StrCat("query result is ", text, "; the load must be a finite number")));
  }
  return value;
}

}  // namespace

absl::Status ValidatePrometheusAddress(std::string_view address) {
  const bool http = address.rfind("http://", 0) == 0;
  const bool https = address.rfind("https://", 0) == 0;
  if ((!http && !https) || address.size() == (http ? 7u : 8u) || address[http ? 7 : 8] == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be a Prometheus URL (http://HOST:PORT or https://HOST[:PORT][/PATH]); got '",
        std::string(address), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> ParseQueryResponse(int http_status, std::string_view body,
                                          std::string_view query, QueryError* reason) {
  const std::string q(query);
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const bool api_answer = doc.is_object() && doc.contains("status") && doc["status"].is_string();
  if (http_status != 200) {
    // Prometheus answers a bad query with 400 (bad_data) or 422 (execution); its JSON error
    // says what is wrong with the PromQL.
    std::string detail;
    if (api_answer && doc.contains("error") && doc["error"].is_string()) {
      detail = absl::StrCat(": ", doc.value("errorType", "error"), ": ",
                            doc["error"].get<std::string>());
    }
    if ((http_status == 400 || http_status == 422) && api_answer) {
      return Fail(QueryError::kBadQuery, reason,
                  absl::InvalidArgumentError(absl::StrCat("Prometheus refused query '", q,
                                                          "' (HTTP ", http_status, ")", detail)));
    }
    std::string message =
        absl::StrCat("Prometheus answered HTTP ", http_status, " to query '", q, "'", detail);
    if (http_status == 404) message += " (is serverAddress the Prometheus base URL?)";
    if (http_status >= 500) {
      return Fail(QueryError::kHttpStatus, reason, absl::UnavailableError(message));
    }
    return Fail(QueryError::kHttpStatus, reason, absl::InvalidArgumentError(message));
  }
  if (!api_answer) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(
                    absl::StrCat("Prometheus answer to query '", q,
                                 "' is not a Prometheus API response (JSON with \"status\")")));
  }
  if (doc["status"] != "success") {
    return Fail(
        QueryError::kBadQuery, reason,
        absl::InvalidArgumentError(absl::StrCat(
            "Prometheus query '", q, "' failed: ", doc.value("errorType", "error"), ": ",
            doc.contains("error") && doc["error"].is_string() ? doc["error"].get<std::string>()
                                                              : std::string("(no message)"))));
  }
  if (!doc.contains("data") || !doc["data"].is_object() || !doc["data"].contains("resultType") ||
      !doc["data"]["resultType"].is_string() || !doc["data"].contains("result")) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(absl::StrCat("Prometheus answer to query '", q,
                                                    "' has no data.resultType/data.result")));
  }
  const std::string type = doc["data"]["resultType"].get<std::string>();
  const json& result = doc["data"]["result"];
  if (type == "scalar") return SampleValue(result, "data.result", reason);
  if (type != "vector") {
    return Fail(QueryError::kBadResult, reason,
                absl::InvalidArgumentError(
                    absl::StrCat("query '", q, "' returned a ", type,
                                 "; it must return an instant vector of one series or a scalar")));
  }
  if (!result.is_array()) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError("Prometheus answer: data.result is not an array"));
  }
  if (result.empty()) return 0.0;  // no series: nothing is running
  if (result.size() > 1) {
    return Fail(QueryError::kBadResult, reason,
                absl::InvalidArgumentError(
                    absl::StrCat("query '", q, "' returned ", result.size(),
                                 " series; it must return one (aggregate it, e.g. sum(...))")));
  }
  if (!result[0].is_object() || !result[0].contains("value")) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError("Prometheus answer: data.result[0] has no value"));
  }
  return SampleValue(result[0]["value"], "data.result[0].value", reason);
}

absl::StatusOr<double> QueryPrometheus(const std::string& server_address, const std::string& query,
                                       double timeout_seconds, QueryError* reason) {
  if (absl::Status s = ValidatePrometheusAddress(server_address); !s.ok()) {
    return Fail(QueryError::kUnreachable, reason, s);
  }
  const SplitUrl url = Split(server_address);
  httplib::Client client(url.origin);
  const auto secs = static_cast<time_t>(timeout_seconds);
  const auto usecs = static_cast<time_t>((timeout_seconds - static_cast<double>(secs)) * 1e6);
  client.set_connection_timeout(secs, usecs);
  client.set_read_timeout(secs, usecs);
  client.set_write_timeout(secs, usecs);
  const httplib::Result res = client.Get(url.path_prefix + "/api/v1/query",
                                         httplib::Params{{"query", query}}, httplib::Headers{});
  if (!res) {
    return Fail(
        QueryError::kUnreachable, reason,
        absl::UnavailableError(absl::StrCat("Prometheus at ", server_address,
                                            " unreachable: ", httplib::to_string(res.error()))));
  }
  return ParseQueryResponse(res->status, res->body, query, reason);
}

absl::StatusOr<double> QueryLoad(const LoadQueryFn& query, const std::string& server_address,
                                 const std::string& promql, std::string_view address_field,
                                 std::string_view query_field, metrics::KedaProbe* probe) {
  QueryError reason = QueryError::kBadResponse;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<double> load = query(server_address, promql, &reason);
  if (probe != nullptr) {
    probe->ObserveQuery(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (!load.ok()) {
    if (probe != nullptr) probe->RecordQueryError(reason);
    const bool query_fault = reason == QueryError::kBadQuery || reason == QueryError::kBadResult;
    return absl::Status(load.status().code(),
                        absl::StrCat(std::string(query_fault ? query_field : address_field), ": ",
                                     std::string(load.status().message())));
  }
  return std::max(0.0, *load);
}

}  // namespace gpufit::server

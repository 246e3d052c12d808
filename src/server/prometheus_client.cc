#include "server/prometheus_client.h"

#include <netdb.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "config/prometheus_url.h"
#include "grpcpp/server_context.h"
#include "nlohmann/json.hpp"

namespace gpufit::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct PrometheusClient::Tls {
  ssl::context context{ssl::context::tls_client};
  absl::Status status;  // why `context` cannot be used
};

namespace {

using metrics::QueryError;
using nlohmann::json;

absl::Status Fail(QueryError why, QueryError* reason, absl::Status status) {
  if (reason != nullptr) *reason = why;
  return status;
}

// --- The answer's JSON, only the parts that are read ---------------------------------------

// Elements kept of data.result and of a [time, "value"] pair: enough to tell one from two
// (a pair that is not a pair, a vector of several series) without building the rest.
constexpr size_t kKeptElements = 3;

// A SAX reader of a /api/v1/query answer that builds only what ParseQueryResponse reads: the
// root's status, errorType and error; data.resultType; data.result (its first kKeptElements
// elements, and of a series only its "value"); result_size counts data.result's elements.
// Everything else (labels, further series) is skipped as it is read, so its memory is a
// few kept values however large the answer. A kept field that should be a string but holds
// a container is kept as an empty container of that type (still not a string).
class AnswerReader final : public nlohmann::json_sax<json> {
 public:
  json root;               // null until the document starts
  size_t result_size = 0;  // elements of data.result, when it is an array

  bool null() override { return Value(json(nullptr)); }
  bool boolean(bool v) override { return Value(json(v)); }
  bool number_integer(number_integer_t v) override { return Value(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Value(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Value(json(v)); }
  bool string(string_t& v) override { return Value(json(std::move(v))); }
  bool binary(binary_t&) override { return Value(json(nullptr)); }
  bool start_object(std::size_t) override { return Start(json::object()); }
  bool start_array(std::size_t) override { return Start(json::array()); }
  bool key(string_t& k) override {
    if (skip_depth_ == 0) stack_.back().key = std::move(k);
    return true;
  }
  bool end_object() override { return End(); }
  bool end_array() override { return End(); }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override {
    return false;
  }

 private:
  // What a kept container is, which decides what of its content is kept.
  enum class Role { kRoot, kData, kResult, kSeries, kPair, kLeaf };
  struct Frame {
    json* node;
    Role role;
    std::string key;   // the current key, in an object
    size_t index = 0;  // elements so far, in an array
  };

  // The role of the next value in the innermost kept container; nullopt = skip it.
  std::optional<Role> NextRole() {
    Frame& f = stack_.back();
    if (f.node->is_array()) {
      const size_t i = f.index++;
      if (i >= kKeptElements) return std::nullopt;
      if (f.role == Role::kResult) return Role::kSeries;  // an object, or a pair's element
      if (f.role == Role::kPair) return Role::kLeaf;
      return std::nullopt;
    }
    const std::string& k = f.key;
    switch (f.role) {
      case Role::kRoot:
        if (k == "data") return Role::kData;
        if (k == "status" || k == "errorType" || k == "error") return Role::kLeaf;
        return std::nullopt;
      case Role::kData:
        if (k == "result") return Role::kResult;
        if (k == "resultType") return Role::kLeaf;
        return std::nullopt;
      case Role::kSeries:
        if (k == "value") return Role::kPair;
        return std::nullopt;
      default:
        return std::nullopt;
    }
  }

  json* Insert(json v) {
    Frame& f = stack_.back();
    if (f.node->is_array()) {
      f.node->push_back(std::move(v));
      return &f.node->back();
    }
    json& slot = (*f.node)[f.key];
    slot = std::move(v);
    return &slot;
  }

  bool Value(json v) {
    if (skip_depth_ > 0) return true;
    if (stack_.empty()) {
      root = std::move(v);
      return true;
    }
    if (NextRole().has_value()) Insert(std::move(v));
    return true;
  }

  bool Start(json container) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    if (stack_.empty()) {
      root = std::move(container);
      stack_.push_back({&root, Role::kRoot, {}, 0});
      return true;
    }
    std::optional<Role> role = NextRole();
    // A series is an object; a pair's element inside data.result is kept as a leaf.
    if (role == Role::kSeries && !container.is_object()) role = Role::kPair;
    if (!role.has_value()) {
      skip_depth_ = 1;
      return true;
    }
    json* node = Insert(std::move(container));
    if (*role == Role::kLeaf) {
      skip_depth_ = 1;  // kept empty: its content is not read
      return true;
    }
    stack_.push_back({node, *role, {}, 0});
    return true;
  }

  bool End() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    if (stack_.back().role == Role::kResult && stack_.back().node->is_array()) {
      result_size = stack_.back().index;
    }
    stack_.pop_back();
    return true;
  }

  std::vector<Frame> stack_;  // the open kept containers (at most 5 deep)
  size_t skip_depth_ = 0;     // > 0: inside a skipped container, this many levels deep
};

// Longest text from an answer (or the query) quoted in an error: the error reaches the gRPC
// client and the logs, and an answer can hold up to the size cap.
constexpr size_t kMaxQuotedBytes = 512;

// `text`, cut to kMaxQuotedBytes at a UTF-8 character boundary, with a note of its size.
std::string Quote(std::string_view text) {
  if (text.size() <= kMaxQuotedBytes) return std::string(text);
  size_t cut = kMaxQuotedBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(std::string(text.substr(0, cut)), "... (", text.size(), " bytes)");
}

// `object[key]` if it is a string (quoted), else `fallback`.
std::string StringField(const json& object, const char* key, std::string_view fallback) {
  if (!object.is_object()) return std::string(fallback);
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::string(fallback);
  return Quote(it->get_ref<const std::string&>());
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
                                                    " value '", Quote(text), "' is not a number")));
  }
  if (!std::isfinite(value)) {
    return Fail(QueryError::kBadResult, reason,
                absl::InvalidArgumentError(absl::StrCat("query result is ", Quote(text),
                                                        "; the load must be a finite number")));
  }
  return value;
}

// --- The HTTP exchange ------------------------------------------------------------------------

// Why a query stopped before its answer was complete.
enum class Stop { kNone, kTimeout, kCallerDeadline, kCancelled, kShutdown };

// Read buffer of one exchange: headers must fit (kMaxPrometheusHeaderBytes); body bytes pass
// through it into the body string.
constexpr size_t kReadBufferBytes = 64 * 1024;

// Host-name lookups running now, over all clients (kMaxPendingLookups).
std::atomic<int> g_pending_lookups{0};

int64_t Nanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The deadlines and cancellation of one query, checked as it runs.
struct Limits {
  Clock::time_point own_deadline;     // start + timeout
  Clock::time_point caller_deadline;  // QueryCancellation::deadline
  const std::atomic<int64_t>* shutdown_deadline_ns;
  const std::function<bool()>* cancelled;

  Stop Check() const {
    const Clock::time_point now = Clock::now();
    if (Nanos(now) >= shutdown_deadline_ns->load()) return Stop::kShutdown;
    if (now >= caller_deadline) return Stop::kCallerDeadline;
    if (*cancelled && (*cancelled)()) {
      // gRPC cancels a call whose deadline passed; that is the deadline, give or take the
      // clock conversion between the two.
      return now + kQueryCancelPoll >= caller_deadline ? Stop::kCallerDeadline : Stop::kCancelled;
    }
    if (now >= own_deadline) return Stop::kTimeout;
    return Stop::kNone;
  }
  // When the exchange's timer fires (a later shutdown is seen by the polls).
  Clock::time_point Earliest() const {
    const Clock::time_point shutdown{std::chrono::duration_cast<Clock::duration>(
        std::chrono::nanoseconds(shutdown_deadline_ns->load()))};
    return std::min({own_deadline, caller_deadline, shutdown});
  }
};

absl::Status StopError(Stop stop, const std::string& server, double timeout_seconds,
                       std::string_view stage, QueryError* reason) {
  switch (stop) {
    case Stop::kCallerDeadline:
      return Fail(QueryError::kTimeout, reason,
                  absl::DeadlineExceededError(absl::StrCat(
                      "Prometheus at ", server, " did not answer before the caller's deadline (",
                      std::string(stage), ")")));
    case Stop::kCancelled:
      return Fail(QueryError::kCancelled, reason,
                  absl::CancelledError(absl::StrCat("the query to Prometheus at ", server,
                                                    " was cancelled: the caller went away")));
    case Stop::kShutdown:
      return Fail(QueryError::kCancelled, reason,
                  absl::UnavailableError(absl::StrCat("the query to Prometheus at ", server,
                                                      " was stopped: gpufitd is shutting down")));
    case Stop::kTimeout:
    case Stop::kNone:
      break;
  }
  return Fail(
      QueryError::kTimeout, reason,
      absl::UnavailableError(absl::StrCat(
          "Prometheus at ", server, " did not answer within ", timeout_seconds,
          " s (the whole query: connect, TLS, request and answer; ", std::string(stage), ")")));
}

// A host name's lookup on a thread of its own, which a query that has to stop leaves
// behind (getaddrinfo cannot be interrupted); the thread frees this when it ends.
struct Lookup {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  std::string error;
  std::vector<tcp::endpoint> endpoints;
};

// The addresses of `url`'s host: the address itself for an IP literal, else a lookup the
// caller waits for while `limits` allow. `*stop` says why it stopped waiting.
absl::StatusOr<std::vector<tcp::endpoint>> Resolve(const config::PrometheusUrl& url,
                                                   const std::string& server, const Limits& limits,
                                                   Stop* stop, QueryError* reason) {
  const auto port = static_cast<uint16_t>(url.port);
  boost::system::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(url.host, ec);
  if (!ec) return std::vector<tcp::endpoint>{tcp::endpoint(ip, port)};

  if (g_pending_lookups.fetch_add(1) >= kMaxPendingLookups) {
    g_pending_lookups.fetch_sub(1);
    return Fail(QueryError::kUnreachable, reason,
                absl::UnavailableError(
                    absl::StrCat("Prometheus at ", server, " unreachable: ", kMaxPendingLookups,
                                 " host-name lookups are already in flight (is DNS answering?)")));
  }
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host = url.host, port] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;  // no AI_ADDRCONFIG: it drops 127.0.0.1 on hosts
                                        // whose only IPv4 address is loopback
      addrinfo* found = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
      std::vector<tcp::endpoint> endpoints;
      for (const addrinfo* a = found; rc == 0 && a != nullptr; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        tcp::endpoint endpoint;
        if (a->ai_addrlen > endpoint.capacity()) continue;
        std::memcpy(endpoint.data(), a->ai_addr, a->ai_addrlen);
        endpoint.resize(a->ai_addrlen);
        endpoint.port(port);
        endpoints.push_back(endpoint);
      }
      if (found != nullptr) ::freeaddrinfo(found);
      {
        std::lock_guard<std::mutex> lock(lookup->mu);
        lookup->done = true;
        lookup->endpoints = std::move(endpoints);
        if (rc != 0) lookup->error = ::gai_strerror(rc);
      }
      lookup->cv.notify_all();
      g_pending_lookups.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    g_pending_lookups.fetch_sub(1);
    return Fail(QueryError::kUnreachable, reason,
                absl::UnavailableError(absl::StrCat("Prometheus at ", server,
                                                    " unreachable: cannot start the host-name "
                                                    "lookup: ",
                                                    e.what())));
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  while (!lookup->done) {
    if ((*stop = limits.Check()) != Stop::kNone) return absl::CancelledError("stopped");
    lookup->cv.wait_for(lock, kQueryCancelPoll);
  }
  if (lookup->endpoints.empty()) {
    return Fail(QueryError::kUnreachable, reason,
                absl::UnavailableError(absl::StrCat(
                    "Prometheus at ", server, " unreachable: cannot resolve '", url.host,
                    "': ", lookup->error.empty() ? std::string("no address") : lookup->error)));
  }
  return lookup->endpoints;
}

// The state of one exchange; the handlers hold a pointer to it, and it outlives them (the
// io_context runs on the caller's stack until every handler has run).
template <typename Stream>
struct Exchange {
  Exchange(asio::io_context& ioc, Stream* s) : stream(s), timer(ioc) {}

  Stream* stream;
  asio::steady_timer timer;
  http::request<http::empty_body> request;
  beast::flat_buffer buffer{kReadBufferBytes};
  http::response_parser<http::string_body> parser;
  uint64_t max_body_bytes = 0;  // the parser's body_limit
  const char* stage = "connect";
  beast::error_code error;
  bool finished = false;  // the exchange ended: answered, failed or aborted
  Stop stop = Stop::kNone;

  tcp::socket& socket() { return beast::get_lowest_layer(*stream); }

  void Finish(const beast::error_code& ec) {
    finished = true;
    error = ec;
    timer.cancel();
  }
  // Ends the exchange now: closing the socket completes every pending operation.
  void Abort(Stop why) {
    if (finished) return;
    finished = true;
    stop = why;
    beast::error_code ignored;
    socket().close(ignored);
    timer.cancel();
  }

  void Start(const std::vector<tcp::endpoint>& endpoints, const config::PrometheusUrl& url) {
    asio::async_connect(socket(), endpoints,
                        [this, &url](const beast::error_code& ec, const tcp::endpoint&) {
                          if (finished) return;
                          if (ec) return Finish(ec);
                          Handshake(url);
                        });
  }

  void Handshake(const config::PrometheusUrl& url) {
    if constexpr (std::is_same_v<Stream, ssl::stream<tcp::socket>>) {
      stage = "TLS handshake";
      // SNI for names only (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted").
      boost::system::error_code not_ip;
      asio::ip::make_address(url.host, not_ip);
      if (not_ip && SSL_set_tlsext_host_name(stream->native_handle(), url.host.c_str()) != 1) {
        return Finish(beast::error_code(static_cast<int>(::ERR_get_error()),
                                        asio::error::get_ssl_category()));
      }
      stream->set_verify_mode(ssl::verify_peer);
      stream->set_verify_callback(ssl::host_name_verification(url.host));
      stream->async_handshake(ssl::stream_base::client, [this](const beast::error_code& ec) {
        if (finished) return;
        if (ec) return Finish(ec);
        Send();
      });
    } else {
      Send();
    }
  }

  void Send() {
    stage = "send the request";
    http::async_write(*stream, request, [this](const beast::error_code& ec, size_t) {
      if (finished) return;
      if (ec) return Finish(ec);
      stage = "read the answer";
      // The header on its own first: Boost 1.74's parser, reading eagerly (as async_read
      // does), drops the body_limit error of a Content-Length over the limit when body bytes
      // follow in the same read, and reads the whole body (boostorg/beast#2183). Read alone,
      // the header reports it.
      http::async_read_header(*stream, buffer, parser, [this](const beast::error_code& ec, size_t) {
        if (finished) return;
        if (ec) return Finish(ec);
        const boost::optional<std::uint64_t> length = parser.content_length();
        if (length.has_value() && *length > max_body_bytes) {
          return Finish(http::make_error_code(http::error::body_limit));
        }
        http::async_read(*stream, buffer, parser, [this](const beast::error_code& ec, size_t) {
          if (!finished) Finish(ec);
        });
      });
    });
  }
};

// "%XX"-encodes everything but RFC 3986's unreserved characters (the query parameter).
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

// Runs the exchange on `stream` to its end; the answer, or the error with its reason.
template <typename Stream>
absl::StatusOr<double> RunExchange(asio::io_context& ioc, Stream* stream,
                                   const std::vector<tcp::endpoint>& endpoints,
                                   const config::PrometheusUrl& url, const std::string& server,
                                   const std::string& query, const PrometheusClientOptions& options,
                                   const Limits& limits, QueryError* reason) {
  Exchange<Stream> x(ioc, stream);
  x.request = http::request<http::empty_body>(
      http::verb::get, absl::StrCat(url.path_prefix, "/api/v1/query?query=", PercentEncode(query)),
      11);
  x.request.set(http::field::host, url.HostHeader());
  x.request.set(http::field::user_agent, "gpufitd/" GPUFIT_VERSION);
  x.request.set(http::field::accept, "application/json");
  x.request.keep_alive(false);
  x.parser.header_limit(static_cast<std::uint32_t>(kMaxPrometheusHeaderBytes));
  x.max_body_bytes = static_cast<std::uint64_t>(options.max_response_bytes);
  x.parser.body_limit(x.max_body_bytes);

  x.timer.expires_at(limits.Earliest());
  x.timer.async_wait([&x, &limits](const beast::error_code& ec) {
    if (ec) return;  // cancelled: the exchange ended first
    const Stop why = limits.Check();
    x.Abort(why == Stop::kNone ? Stop::kTimeout : why);
  });
  x.Start(endpoints, url);
  // Runs the handlers on this thread, looking up between slices for a caller who went away
  // or a shutdown (gRPC gives no callback for those).
  while (!ioc.stopped()) {
    ioc.run_for(kQueryCancelPoll);
    if (!ioc.stopped() && !x.finished) {
      if (const Stop why = limits.Check(); why != Stop::kNone) x.Abort(why);
    }
  }

  if (x.stop != Stop::kNone) {
    return StopError(x.stop, server, options.timeout_seconds, x.stage, reason);
  }
  const beast::error_code& ec = x.error;
  if (ec == http::error::body_limit) {
    return Fail(QueryError::kTooLarge, reason,
                absl::UnavailableError(absl::StrCat(
                    "Prometheus at ", server, " answered more than ", options.max_response_bytes,
                    " bytes, the cap on a query answer (a load query returns one number; "
                    "aggregate it, e.g. sum(...))")));
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(absl::StrCat("Prometheus at ", server,
                                                    " answered with headers over ",
                                                    kMaxPrometheusHeaderBytes, " bytes")));
  }
  if (ec && ec.category() == http::make_error_code(http::error::bad_version).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(absl::StrCat("Prometheus at ", server,
                                                    " did not answer in HTTP: ", ec.message())));
  }
  if (ec) {
    return Fail(QueryError::kUnreachable, reason,
                absl::UnavailableError(absl::StrCat(
                    "Prometheus at ", server, " unreachable: ", x.stage, ": ", ec.message())));
  }
  const auto& response = x.parser.get();
  return ParseQueryResponse(static_cast<int>(response.result_int()), response.body(), query,
                            reason);
}

}  // namespace

absl::Status ValidatePrometheusAddress(std::string_view address) {
  return config::ParsePrometheusUrl(address).status();
}

absl::StatusOr<double> ParseQueryResponse(int http_status, std::string_view body,
                                          std::string_view query, QueryError* reason) {
  const std::string q = Quote(query);
  AnswerReader reader;
  const bool parsed = json::sax_parse(body, &reader);
  const json doc = parsed ? std::move(reader.root) : json();
  const bool api_answer = doc.is_object() && doc.contains("status") && doc["status"].is_string();
  if (http_status != 200) {
    // Prometheus answers a bad query with 400 (bad_data) or 422 (execution); its JSON error
    // says what is wrong with the PromQL.
    std::string detail;
    if (api_answer && doc.contains("error") && doc["error"].is_string()) {
      detail = absl::StrCat(": ", StringField(doc, "errorType", "error"), ": ",
                            StringField(doc, "error", ""));
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
    return Fail(QueryError::kBadQuery, reason,
                absl::InvalidArgumentError(absl::StrCat(
                    "Prometheus query '", q, "' failed: ", StringField(doc, "errorType", "error"),
                    ": ", StringField(doc, "error", "(no message)"))));
  }
  if (!doc.contains("data") || !doc["data"].is_object() || !doc["data"].contains("resultType") ||
      !doc["data"]["resultType"].is_string() || !doc["data"].contains("result")) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError(absl::StrCat("Prometheus answer to query '", q,
                                                    "' has no data.resultType/data.result")));
  }
  const std::string type = StringField(doc["data"], "resultType", "");
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
  if (reader.result_size == 0) return 0.0;  // no series: nothing is running
  if (reader.result_size > 1) {
    return Fail(QueryError::kBadResult, reason,
                absl::InvalidArgumentError(
                    absl::StrCat("query '", q, "' returned ", reader.result_size,
                                 " series; it must return one (aggregate it, e.g. sum(...))")));
  }
  if (!result[0].is_object() || !result[0].contains("value")) {
    return Fail(QueryError::kBadResponse, reason,
                absl::UnavailableError("Prometheus answer: data.result[0] has no value"));
  }
  return SampleValue(result[0]["value"], "data.result[0].value", reason);
}

QueryCancellation CancellationOf(const grpc::ServerContext& context) {
  QueryCancellation cancel;
  const auto deadline = context.deadline();
  const auto now = std::chrono::system_clock::now();
  // No deadline reads as system_clock's max; anything a year out is as good as none.
  if (deadline < now + std::chrono::hours(24 * 365)) {
    cancel.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(deadline - now);
  }
  const grpc::ServerContext* c = &context;
  cancel.cancelled = [c] { return c->IsCancelled(); };
  return cancel;
}

PrometheusClient::PrometheusClient(PrometheusClientOptions options)
    : options_(std::move(options)), shutdown_deadline_ns_(std::numeric_limits<int64_t>::max()) {}

PrometheusClient::~PrometheusClient() = default;

void PrometheusClient::ShutdownBy(Clock::time_point deadline) {
  const int64_t ns = Nanos(deadline);
  int64_t current = shutdown_deadline_ns_.load();
  while (ns < current && !shutdown_deadline_ns_.compare_exchange_weak(current, ns)) {
  }
}

absl::StatusOr<double> PrometheusClient::Query(const std::string& server_address,
                                               const std::string& query,
                                               const QueryCancellation& cancel,
                                               QueryError* reason) const {
  absl::StatusOr<config::PrometheusUrl> url = config::ParsePrometheusUrl(server_address);
  if (!url.ok()) return Fail(QueryError::kUnreachable, reason, url.status());
  const Clock::time_point start = Clock::now();
  const Limits limits{start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(options_.timeout_seconds)),
                      cancel.deadline, &shutdown_deadline_ns_, &cancel.cancelled};
  if (const Stop why = limits.Check(); why != Stop::kNone) {
    return StopError(why, server_address, options_.timeout_seconds, "before it started", reason);
  }
  Stop stop = Stop::kNone;
  if (!AcquireSlot([&] { return (stop = limits.Check()) != Stop::kNone; })) {
    return StopError(
        stop, server_address, options_.timeout_seconds,
        absl::StrCat("waiting for one of ", options_.max_concurrent_queries, " query slots"),
        reason);
  }
  struct SlotRelease {
    const PrometheusClient* client;
    ~SlotRelease() { client->ReleaseSlot(); }
  } release{this};
  absl::StatusOr<std::vector<tcp::endpoint>> endpoints =
      Resolve(*url, server_address, limits, &stop, reason);
  if (stop != Stop::kNone) {
    return StopError(stop, server_address, options_.timeout_seconds, "host-name lookup", reason);
  }
  if (!endpoints.ok()) return endpoints.status();

  asio::io_context ioc(1);
  if (!url->https) {
    tcp::socket socket(ioc);
    return RunExchange(ioc, &socket, *endpoints, *url, server_address, query, options_, limits,
                       reason);
  }
  std::call_once(tls_once_, [this] {
    tls_ = std::make_unique<Tls>();
    SSL_CTX_set_min_proto_version(tls_->context.native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (options_.ca_file.empty()) {
      tls_->context.set_default_verify_paths(ec);
    } else {
      tls_->context.load_verify_file(options_.ca_file, ec);
    }
    if (ec) {
      tls_->status = absl::UnavailableError(absl::StrCat(
          "cannot load the CA certificates ",
          options_.ca_file.empty() ? std::string("(system default)") : options_.ca_file, ": ",
          ec.message()));
    }
  });
  if (!tls_->status.ok()) {
    return Fail(QueryError::kUnreachable, reason,
                absl::UnavailableError(absl::StrCat("Prometheus at ", server_address,
                                                    " unreachable: ", tls_->status.message())));
  }
  ssl::stream<tcp::socket> stream(ioc, tls_->context);
  return RunExchange(ioc, &stream, *endpoints, *url, server_address, query, options_, limits,
                     reason);
}

bool PrometheusClient::AcquireSlot(const std::function<bool()>& stopped) const {
  std::unique_lock<std::mutex> lock(slots_mu_);
  while (queries_in_flight_ >= std::max(1, options_.max_concurrent_queries)) {
    if (stopped()) return false;
    slots_cv_.wait_for(lock, kQueryCancelPoll);
  }
  ++queries_in_flight_;
  return true;
}

void PrometheusClient::ReleaseSlot() const {
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    --queries_in_flight_;
  }
  slots_cv_.notify_one();
}

absl::StatusOr<double> QueryPrometheus(const std::string& server_address, const std::string& query,
                                       const PrometheusClientOptions& options,
                                       const QueryCancellation& cancel, QueryError* reason) {
  const PrometheusClient client(options);
  return client.Query(server_address, query, cancel, reason);
}

LoadQueryFn QueryFnOf(const PrometheusClient* client) {
  return [client](const std::string& address, const std::string& query,
                  const QueryCancellation& cancel,
                  QueryError* reason) { return client->Query(address, query, cancel, reason); };
}

absl::StatusOr<double> QueryLoad(const LoadQueryFn& query, const std::string& server_address,
                                 const std::string& promql, const QueryCancellation& cancel,
                                 std::string_view address_field, std::string_view query_field,
                                 metrics::KedaProbe* probe) {
  QueryError reason = QueryError::kBadResponse;
  const auto start = Clock::now();
  absl::StatusOr<double> load = query(server_address, promql, cancel, &reason);
  if (probe != nullptr) {
    probe->ObserveQuery(std::chrono::duration<double>(Clock::now() - start).count());
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

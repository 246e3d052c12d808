#include "server/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "nlohmann/json.hpp"
#include "server/body_budget.h"

namespace gpufit::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// One read from a socket; the read buffer holds at most the header limit plus this.
constexpr size_t kReadChunkBytes = 16 * 1024;
// After an error answer sent with request bytes still unread, the server stops sending and
// reads (and drops) what the client still sends for up to this long before it closes: a
// close with unread input resets the connection, and the reset can destroy the answer
// before the client has read it (RFC 9112, section 9.6).
constexpr auto kLingerTime = std::chrono::seconds(2);
// Connections past the cap being answered 503 at once; beyond this they are closed without
// an answer, so that refusing costs no more than a fixed number of descriptors either.
constexpr int kMaxRefusing = 64;
// Back-off when accept() fails for want of descriptors or memory, instead of spinning.
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);

std::string JsonError(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump();
}

// An HTTP/1.1 request parser (Beast's basic_parser) that keeps what gpufitd's handlers use
// (method, target, body) and enforces what Beast's own request parser does not: a limit on
// the number of header lines, a single Content-Length, and a body buffer that grows (chunked
// bodies) only as far as the body budget lets it.
// A chunked body grows by doubling up to this size, then in one step to the body limit
// (RequestParser::on_chunk_header_impl). The body budget has this much on top of its
// configured bytes, so that one body of the largest size fits whatever its framing.
constexpr size_t kSmallChunkedBodyBytes = 64 * 1024;

class RequestParser final : public http::basic_parser<true> {
 public:
  // `reserve(bytes)` takes more of the body budget for a growing chunked body; false = none.
  // `release(bytes)` gives some back.
  RequestParser(const HttpLimits& limits, std::function<bool(size_t)> reserve,
                std::function<void(size_t)> release)
      : max_headers_(limits.max_headers),
        max_body_bytes_(limits.max_body_bytes),
        reserve_(std::move(reserve)),
        release_(std::move(release)) {
    header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    body_limit(limits.max_body_bytes);
  }

  http::verb method() const { return method_; }
  const std::string& method_string() const { return method_string_; }
  std::string path() const { return target_.substr(0, target_.find('?')); }
  int version() const { return version_; }
  bool expect_continue() const { return expect_continue_; }
  bool too_many_headers() const { return too_many_headers_; }
  bool budget_refused() const { return budget_refused_; }
  // The body; its capacity (at least its size + kHttpBodyPaddingBytes) stays reserved.
  std::string TakeBody() { return std::move(body_); }

 private:
  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int version, beast::error_code&) override {
    method_ = method;
    method_string_.assign(method_str.data(), method_str.size());
    target_.assign(target.data(), target.size());
    version_ = version;
  }

  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_version;  // a request parser never sees a status line
  }

  void on_field_impl(http::field name, beast::string_view, beast::string_view value,
                     beast::error_code& ec) override {
    if (++fields_ > max_headers_) {
      too_many_headers_ = true;
      ec = http::error::header_limit;
      return;
    }
    if (name == http::field::content_length) {
      // Beast accepts a repeated Content-Length and a list of one value ("5, 5") as RFC 9110
      // section 8.6 permits; request smuggling lives on two parsers disagreeing about such
      // framing, so gpufitd refuses both.
      if (content_length_seen_ || value.find(',') != beast::string_view::npos) {
        ec = http::error::bad_content_length;
        return;
      }
      content_length_seen_ = true;
    } else if (name == http::field::expect) {
      expect_continue_ = beast::iequals(value, "100-continue");
    }
  }

  void on_header_impl(beast::error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         beast::error_code&) override {
    // The session has taken *content_length + padding from the body budget already.
    if (content_length.has_value() && *content_length > 0) {
      body_.reserve(static_cast<size_t>(*content_length) + kHttpBodyPaddingBytes);
      reserved_ = body_.capacity();
    }
  }

  size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    body_.append(s.data(), s.size());
    return s.size();
  }

  void on_chunk_header_impl(std::uint64_t size, beast::string_view,
                            beast::error_code& ec) override {
    // Beast has checked the total against the body limit.
    const size_t needed = body_.size() + static_cast<size_t>(size) + kHttpBodyPaddingBytes;
    if (needed <= body_.capacity()) return;
    // Doubling while the body is small; past kSmallChunkedBodyBytes one step to the limit.
    // Doubling all the way would need old + new capacity from the budget at each copy (1.5x
    // the limit near it), which a budget sized for one largest body cannot give; reserved
    // but unwritten capacity costs address space, not resident memory.
    const size_t want =
        needed <= kSmallChunkedBodyBytes
            ? std::max(needed, std::min(2 * body_.capacity(), kSmallChunkedBodyBytes))
            : max_body_bytes_ + kHttpBodyPaddingBytes;
    // A fresh string gets exactly `want` (growing one in place may round it up); both exist
    // during the copy, so both are paid for.
    if (!reserve_(want)) {
      budget_refused_ = true;
      ec = net::error::no_buffer_space;
      return;
    }
    std::string bigger;
    bigger.reserve(want);
    bigger.append(body_);
    body_.swap(bigger);
    release_(reserved_);
    reserved_ = want;
  }

  size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, beast::error_code&) override {
    body_.append(s.data(), s.size());
    return s.size();
  }

  void on_finish_impl(beast::error_code&) override {}

  const int max_headers_;
  const size_t max_body_bytes_;
  const std::function<bool(size_t)> reserve_;
  const std::function<void(size_t)> release_;
  http::verb method_ = http::verb::unknown;
  std::string method_string_;
  std::string target_;
  int version_ = 11;
  int fields_ = 0;
  bool content_length_seen_ = false;
  bool expect_continue_ = false;
  bool too_many_headers_ = false;
  bool budget_refused_ = false;
  std::string body_;
  size_t reserved_ = 0;  // budget bytes behind body_'s capacity (chunked bodies)
};

// The POST handlers' threads: `max_in_flight` workers and at most `max_queued` requests
// waiting for one. Thread-safe.
class WorkerPool {
 public:
  void Configure(AdmissionLimits limits, AdmissionListener listener) {
    limits.max_in_flight = std::max(1, limits.max_in_flight);
    limits.max_queued = std::max(0, limits.max_queued);
    limits_ = limits;
    listener_ = std::move(listener);
  }
  const AdmissionLimits& limits() const { return limits_; }
  void SetHook(std::function<void()> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    hook_ = std::make_shared<const std::function<void()>>(std::move(hook));
  }

  void Start() {
    for (int i = 0; i < limits_.max_in_flight; ++i) threads_.emplace_back([this] { Work(); });
  }

  // Every worker busy and no room to wait.
  bool Full() const {
    std::lock_guard<std::mutex> lock(mu_);
    return FullLocked();
  }

  // False (and counted as shed) when full.
  bool TrySubmit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!FullLocked() && !stopping_) {
        jobs_.push_back(std::move(job));
        peak_queued_ = std::max(peak_queued_, QueuedLocked());
        NotifyLocked();
        cv_.notify_one();
        return true;
      }
    }
    CountShed();
    return false;
  }

  void CountShed() {
    shed_.fetch_add(1);
    if (listener_.shed) listener_.shed("queue_full");
  }

  // Joins the workers once they finish what they run; drops the requests still waiting.
  void Shutdown() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      dropped.swap(jobs_);
      NotifyLocked();
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  void Fill(HttpServer::Load* load) const {
    std::lock_guard<std::mutex> lock(mu_);
    load->in_flight = busy_;
    load->queued = QueuedLocked();
    load->peak_queued = peak_queued_;
    load->shed = shed_.load();
  }

 private:
  bool FullLocked() const {
    return busy_ + static_cast<int>(jobs_.size()) >= limits_.max_in_flight + limits_.max_queued;
  }
  // Requests no free worker can take (a request handed over to an idle worker is not
  // waiting, only not picked up yet): what max_queued bounds.
  int QueuedLocked() const {
    return std::max(0, busy_ + static_cast<int>(jobs_.size()) - limits_.max_in_flight);
  }
  void NotifyLocked() {
    if (listener_.changed) listener_.changed(busy_, QueuedLocked());
  }

  void Work() {
    for (;;) {
      std::function<void()> job;
      std::shared_ptr<const std::function<void()>> hook;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !jobs_.empty() || stopping_; });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        ++busy_;
        NotifyLocked();
        hook = hook_;
      }
      if (hook != nullptr && *hook) (*hook)();
      job();
      job = nullptr;  // the request (and its session) goes before the slot frees up
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
      NotifyLocked();
    }
  }

  AdmissionLimits limits_{8, 64, {}};
  AdmissionListener listener_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::function<void()>> hook_;  // guarded by mu_
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  int busy_ = 0;                            // guarded by mu_
  int peak_queued_ = 0;                     // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::atomic<long> shed_{0};
  std::vector<std::thread> threads_;
};

class SessionBase;

}  // namespace

// Everything a server shares with its connections. Connections hold a plain pointer: Stop()
// destroys every connection (with the io_context that holds their handlers) before this.
class HttpServer::Impl {
 public:
  struct Route {
    HttpHandler get;
    HttpHandler post;
  };

  HttpLimits limits;
  std::optional<ssl::context> tls;
  std::unordered_map<std::string, Route> routes;
  metrics::HttpProbe* probe = nullptr;
  metrics::HttpListener listener = metrics::HttpListener::kHttp;
  WorkerPool pool;
  std::unique_ptr<BodyBudget> budget;  // made by Start()

  std::atomic<bool> stopping{false};
  std::atomic<int> open{0};      // connections served (not the refused ones)
  std::atomic<int> refusing{0};  // connections past the cap being answered 503
  std::atomic<long> refused{0};

  void RequestRefused(metrics::HttpRefusal reason) {
    if (probe != nullptr) probe->RequestRefused(listener, reason);
  }
  void ConnectionRefused(metrics::HttpConnectionRefusal reason) {
    if (probe != nullptr) probe->ConnectionRefused(listener, reason);
  }

  // Session bookkeeping (for Stop()).
  uint64_t Register(const std::shared_ptr<SessionBase>& session);
  void Unregister(uint64_t id, bool refusing_session);

  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop();

 private:
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  std::unique_ptr<net::io_context> ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> accept_retry_;
  std::vector<std::thread> threads_;
  bool started_ = false;
  bool stopped_ = false;

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions_;  // guarded
  uint64_t next_session_id_ = 1;                                       // guarded
};

namespace {

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Run() = 0;
  // Stop(): close now if between requests; else finish the request under way, answer it,
  // and close. Posts itself to the session's strand.
  virtual void RequestStop() = 0;
};

// One connection: reads requests one at a time, hands each to its handler, writes the answer,
// and repeats while keep-alive lasts. Every step runs on the connection's strand. `Stream`
// is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session final : public SessionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  // `refuse`: over the connection cap; answer 503 and close.
  template <class... StreamArgs>
  Session(HttpServer::Impl* server, bool refuse, StreamArgs&&... stream_args)
      : server_(server),
        limits_(server->limits),
        stream_(std::forward<StreamArgs>(stream_args)...),
        buffer_(limits_.max_header_bytes + kReadChunkBytes),
        refuse_(refuse) {}

  ~Session() override {
    ReleaseBudget();
    server_->Unregister(id_, refuse_);
  }

  void set_id(uint64_t id) { id_ = id; }

  void Run() override {
    net::dispatch(stream_.get_executor(), [self = Self()] { self->Begin(); });
  }

  void RequestStop() override {
    net::post(stream_.get_executor(), [self = Self()] {
      self->stop_requested_ = true;
      // Between requests: close now. A request under way (being received, waiting for the
      // budget, handled or answered) finishes, within its deadline, and is answered; then
      // the connection closes (keep-alive is off from now on).
      if (self->state_ == State::kHandshake || self->state_ == State::kIdle) self->CloseNow();
    });
  }

 private:
  enum class State {
    kHandshake,   // TLS
    kIdle,        // waiting for the first byte of a request
    kHeader,      // reading the request line and headers
    kBudgetWait,  // waiting for the body's share of the budget
    kBody,        // reading the body
    kHandling,    // a handler runs (or waits for a worker)
    kWriting,     // writing the answer
    kClosing,     // lingering or shutting TLS down
    kClosed,
  };

  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  bool stopping() const { return stop_requested_ || server_->stopping.load(); }

  void Begin() {
    if constexpr (kTls) {
      state_ = State::kHandshake;
      Tcp().expires_after(limits_.request_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = Self()](beast::error_code ec) { self->OnHandshake(ec); });
    } else {
      refuse_ ? Refuse() : ReadIdle();
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      if (state_ != State::kClosed) {
        server_->ConnectionRefused(metrics::HttpConnectionRefusal::kTlsHandshake);
      }
      return CloseNow();
    }
    refuse_ ? Refuse() : ReadIdle();
  }

  void Refuse() {
    WriteError(503,
               absl::StrCat("too many connections: ", limits_.max_connections,
                            " open (--http-max-connections); retry later"),
               /*unread_input=*/true, /*retry_after=*/true);
  }

  // --- Reading a request -----------------------------------------------------------------

  void ReadIdle() {
    state_ = State::kIdle;
    if (stopping()) return GracefulClose();
    parser_.emplace(
        limits_,
        [this](size_t bytes) {
          if (!server_->budget->TryAcquire(bytes)) return false;
          reserved_bytes_ += bytes;
          return true;
        },
        [this](size_t bytes) {
          bytes = std::min(bytes, reserved_bytes_);
          reserved_bytes_ -= bytes;
          server_->budget->Release(bytes);
        });
    if (buffer_.size() > 0) return StartRequest();  // pipelined
    // An idle connection keeps no read buffer.
    buffer_.shrink_to_fit();
    // Keep-alive waits are long (clients reuse connections); a new connection's client has
    // its request ready, so it gets the request deadline for the first byte too.
    Tcp().expires_after(requests_ == 0 ? limits_.request_timeout : limits_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = Self()](beast::error_code ec, size_t n) {
                              if (ec) return self->CloseNow();  // idle timeout, EOF, Stop()
                              self->buffer_.commit(n);
                              self->StartRequest();
                            });
  }

  void StartRequest() {
    state_ = State::kHeader;
    ++requests_;
    deadline_ = Clock::now() + limits_.request_timeout;
    Tcp().expires_at(deadline_);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    RequestParser& p = *parser_;
    version_ = p.version();
    keep_alive_ = p.keep_alive();
    head_ = p.method() == http::verb::head;
    const bool has_length = p.content_length().has_value();
    const std::uint64_t length = has_length ? *p.content_length() : 0;
    const bool has_body = p.chunked() || length > 0;
    handler_ = nullptr;
    worker_ = false;
    if (auto it = server_->routes.find(p.path()); it != server_->routes.end()) {
      if ((p.method() == http::verb::get || head_) && it->second.get) {
        handler_ = &it->second.get;
      } else if (p.method() == http::verb::post && it->second.post) {
        handler_ = &it->second.post;
        worker_ = true;
      }
    }
    if (handler_ == nullptr) return WriteError(404, "not found", has_body);
    if (length > limits_.max_body_bytes) return BodyTooLarge();
    // Overloaded: refuse before reading the body, which is what there is no room for.
    if (worker_ && server_->pool.Full()) {
      server_->pool.CountShed();
      return WriteShed(has_body);
    }
    if (!has_body) return Dispatch();
    if (!has_length) return ReadBody();  // chunked: the parser takes budget as it grows
    const size_t bytes = static_cast<size_t>(length) + kHttpBodyPaddingBytes;
    if (server_->budget->TryAcquire(bytes)) {
      reserved_bytes_ += bytes;
      return ReadBody();
    }
    state_ = State::kBudgetWait;
    std::weak_ptr<SessionBase> weak = weak_from_this();
    BodyBudget* budget = server_->budget.get();
    auto executor = stream_.get_executor();
    ticket_ = budget->Wait(bytes, [weak, budget, bytes, executor] {
      std::shared_ptr<SessionBase> base = weak.lock();
      if (base == nullptr) return budget->Release(bytes);
      net::post(executor, [self = std::static_pointer_cast<Session>(base), bytes] {
        self->OnBudgetGranted(bytes);
      });
    });
    budget_timer_.emplace(stream_.get_executor());
    budget_timer_->expires_at(std::min(deadline_, Clock::now() + limits_.body_budget_wait));
    budget_timer_->async_wait([self = Self()](beast::error_code) { self->OnBudgetTimer(); });
  }

  void OnBudgetGranted(size_t bytes) {
    if (state_ != State::kBudgetWait) {  // closed meanwhile
      server_->budget->Release(bytes);
      return;
    }
    ticket_ = 0;
    reserved_bytes_ += bytes;
    budget_timer_->cancel();
    ReadBody();
  }

  void OnBudgetTimer() {
    if (state_ != State::kBudgetWait) return;
    if (!server_->budget->Cancel(ticket_)) return;  // granted: OnBudgetGranted is on its way
    ticket_ = 0;
    server_->RequestRefused(metrics::HttpRefusal::kBodyBudget);
    WriteError(503,
               absl::StrCat("busy: request bodies in progress fill the body budget of ",
                            server_->limits.body_budget_bytes,
                            " bytes (--http-body-budget-bytes); retry later"),
               /*unread_input=*/true, /*retry_after=*/true);
  }

  void ReadBody() {
    state_ = State::kBody;
    if (parser_->expect_continue() && version_ >= 11) {
      // The client waits for this before it sends the body (curl does for large bodies).
      continue_.emplace(http::status::continue_, version_);
      return http::async_write(stream_, *continue_, [self = Self()](beast::error_code ec, size_t) {
        self->continue_.reset();
        if (ec) return self->CloseNow();
        self->ReadRestOfBody();
      });
    }
    ReadRestOfBody();
  }

  void ReadRestOfBody() {
    http::async_read(stream_, buffer_, *parser_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->OnReadError(ec);
      self->Dispatch();
    });
  }

  void OnReadError(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec == beast::error::timeout) {
      server_->RequestRefused(metrics::HttpRefusal::kDeadline);
      return CloseNow();
    }
    if (parser_.has_value() && parser_->budget_refused()) {
      server_->RequestRefused(metrics::HttpRefusal::kBodyBudget);
      return WriteError(503,
                        absl::StrCat("busy: request bodies in progress fill the body budget of ",
                                     server_->limits.body_budget_bytes,
                                     " bytes (--http-body-budget-bytes); retry later"),
                        /*unread_input=*/true, /*retry_after=*/true);
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      server_->RequestRefused(metrics::HttpRefusal::kHeaderLimit);
      const std::string why =
          parser_.has_value() && parser_->too_many_headers()
              ? absl::StrCat("headers: more than ", limits_.max_headers,
                             " header lines (--http-max-headers)")
              : absl::StrCat("headers: the request line and headers are larger than ",
                             limits_.max_header_bytes, " bytes (--http-max-header-bytes)");
      return WriteError(431, why, /*unread_input=*/true);
    }
    if (ec == http::error::body_limit) return BodyTooLarge();
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      server_->RequestRefused(metrics::HttpRefusal::kMalformed);
      return WriteError(400, absl::StrCat("bad request: ", ec.message()), /*unread_input=*/true);
    }
    CloseNow();  // the client went away (EOF, reset, a TLS error) or Stop()
  }

  void BodyTooLarge() {
    server_->RequestRefused(metrics::HttpRefusal::kBodyLimit);
    WriteError(413,
               absl::StrCat("body: too large (the limit is ", limits_.max_body_bytes, " bytes)"),
               /*unread_input=*/true);
  }

  // --- Handling --------------------------------------------------------------------------

  static HttpResponse Invoke(const HttpHandler& handler, const HttpRequest& request) {
    try {
      return handler(request);
    } catch (const std::exception&) {
      return HttpResponse{500, "application/json", JsonError("internal error")};
    }
  }

  void Dispatch() {
    state_ = State::kHandling;
    HttpRequest request{parser_->method_string(), parser_->path(), parser_->TakeBody()};
    parser_.reset();
    if (!worker_) {
      HttpResponse response = Invoke(*handler_, request);
      request = HttpRequest();
      return Write(std::move(response));
    }
    const bool queued = server_->pool.TrySubmit(
        [self = Self(), handler = handler_, request = std::move(request)]() mutable {
          HttpResponse response = Invoke(*handler, request);
          // The body goes now; its budget share stays until the answer is written (the
          // answer, built from it, can be as large).
          request = HttpRequest();
          auto executor = self->stream_.get_executor();
          net::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
            self->Write(std::move(response));
          });
        });
    if (!queued) WriteShed(/*unread_input=*/false);
  }

  // --- Answering -------------------------------------------------------------------------

  void WriteShed(bool unread_input) {
    const AdmissionLimits& l = server_->pool.limits();
    WriteError(
        503,
        absl::StrCat("overloaded: ", l.max_in_flight, " requests in progress and ", l.max_queued,
                     " waiting (--http-threads, --http-max-queued); retry later"),
        unread_input, /*retry_after=*/true);
  }

  // `unread_input`: part of the request is still unread, so the connection cannot carry
  // another one: close after the answer (lingering).
  void WriteError(int status, std::string_view message, bool unread_input,
                  bool retry_after = false) {
    linger_ = unread_input;
    if (status == 400) linger_ = true;  // framing is in doubt: never reuse the connection
    retry_after_ = retry_after;
    Write(HttpResponse{status, "application/json", JsonError(message)});
  }

  void Write(HttpResponse r) {
    if (state_ == State::kClosed) return;
    state_ = State::kWriting;
    auto& res = response_.emplace(static_cast<http::status>(r.status), version_);
    res.set(http::field::content_type, r.content_type);
    if (retry_after_) res.set(http::field::retry_after, "1");
    close_after_ = linger_ || !keep_alive_ || stopping();
    res.keep_alive(!close_after_);
    if (head_) {
      res.content_length(r.body.size());
    } else {
      res.body() = std::move(r.body);
      res.prepare_payload();
    }
    Tcp().expires_after(limits_.request_timeout);
    http::async_write(stream_, res,
                      [self = Self()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    response_.reset();
    ReleaseBudget();
    retry_after_ = false;
    if (ec) return CloseNow();
    if (linger_) return Linger();
    if (close_after_) return GracefulClose();
    ReadIdle();
  }

  // --- Closing ---------------------------------------------------------------------------

  void ReleaseBudget() {
    if (reserved_bytes_ > 0) server_->budget->Release(reserved_bytes_);
    reserved_bytes_ = 0;
  }

  void Linger() {
    state_ = State::kClosing;
    Tcp().expires_after(kLingerTime);
    if constexpr (kTls) {
      stream_.async_shutdown([self = Self()](beast::error_code) { self->CloseNow(); });
    } else {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Drain();
    }
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = Self()](beast::error_code ec, size_t) {
                              if (ec) return self->CloseNow();  // EOF or kLingerTime
                              self->Drain();
                            });
  }

  void GracefulClose() {
    state_ = State::kClosing;
    if constexpr (kTls) {
      Tcp().expires_after(kLingerTime);
      stream_.async_shutdown([self = Self()](beast::error_code) { self->CloseNow(); });
    } else {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
      CloseNow();
    }
  }

  void CloseNow() {
    state_ = State::kClosed;
    if (ticket_ != 0) {
      server_->budget->Cancel(ticket_);  // if already granted, OnBudgetGranted releases it
      ticket_ = 0;
    }
    if (budget_timer_.has_value()) budget_timer_->cancel();
    Tcp().close();
  }

  HttpServer::Impl* const server_;
  const HttpLimits& limits_;
  Stream stream_;
  beast::flat_buffer buffer_;
  const bool refuse_;
  uint64_t id_ = 0;

  State state_ = State::kIdle;
  bool stop_requested_ = false;
  int requests_ = 0;  // requests started on this connection
  std::optional<RequestParser> parser_;
  Clock::time_point deadline_;
  std::optional<net::steady_timer> budget_timer_;
  BodyBudget::Ticket ticket_ = 0;
  size_t reserved_bytes_ = 0;  // of the body budget, for the request in progress
  const HttpHandler* handler_ = nullptr;
  bool worker_ = false;
  int version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool linger_ = false;
  bool close_after_ = false;
  bool retry_after_ = false;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace

// --- HttpServer::Impl -----------------------------------------------------------------------

uint64_t HttpServer::Impl::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  const uint64_t id = next_session_id_++;
  sessions_.emplace(id, session);
  return id;
}

void HttpServer::Impl::Unregister(uint64_t id, bool refusing_session) {
  if (refusing_session) {
    refusing.fetch_sub(1);
  } else {
    const int now_open = open.fetch_sub(1) - 1;
    if (probe != nullptr) probe->SetConnectionsOpen(listener, now_open);
  }
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_.erase(id);
  if (sessions_.empty()) sessions_cv_.notify_all();
}

absl::StatusOr<int> HttpServer::Impl::Start(const std::string& host, int port) {
  if (started_) return absl::FailedPreconditionError("HttpServer: started twice");
  ioc_ = std::make_unique<net::io_context>(limits.io_threads);
  beast::error_code ec;
  tcp::resolver resolver(*ioc_);
  const tcp::resolver::results_type endpoints =
      resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  std::string why = ec ? ec.message() : "no address";
  for (const auto& entry : ec ? tcp::resolver::results_type() : endpoints) {
    acceptor_.emplace(net::make_strand(*ioc_));
    // SO_REUSEADDR for a quick restart; never SO_REUSEPORT, with which a second gpufitd on the
    // same port would bind fine and take half the connections.
    acceptor_->open(entry.endpoint().protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(entry.endpoint(), ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (!ec) break;
    why = ec.message();
    acceptor_.reset();
  }
  if (!acceptor_.has_value()) {
    ioc_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", why));
  }
  const int bound = acceptor_->local_endpoint().port();
  started_ = true;
  budget = std::make_unique<BodyBudget>(limits.body_budget_bytes + kSmallChunkedBodyBytes,
                                        [this](size_t bytes) {
                                          if (probe != nullptr)
                                            probe->SetBodyBytesInFlight(listener, bytes);
                                        });
  if (probe != nullptr) probe->SetConnectionsOpen(listener, 0);
  const bool any_post =
      std::any_of(routes.begin(), routes.end(), [](const auto& r) { return bool(r.second.post); });
  if (any_post) pool.Start();
  accept_retry_.emplace(acceptor_->get_executor());
  // While a handler runs on a worker, its connection has no operation pending: without this
  // the event loop could run out of work (after Stop() closes the acceptor) and end before
  // the answer is posted back to it.
  work_.emplace(ioc_->get_executor());
  Accept();
  for (int i = 0; i < limits.io_threads; ++i) threads_.emplace_back([this] { ioc_->run(); });
  return bound;
}

void HttpServer::Impl::Accept() {
  acceptor_->async_accept(
      net::make_strand(*ioc_),
      [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping.load() || ec == net::error::operation_aborted) return;
  if (ec) {
    accept_retry_->expires_after(kAcceptRetry);
    accept_retry_->async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping.load()) Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  bool refuse = false;
  if (open.load() >= limits.max_connections) {
    refused.fetch_add(1);
    ConnectionRefused(metrics::HttpConnectionRefusal::kMaxConnections);
    if (refusing.load() >= kMaxRefusing) {
      socket.close(ignored);
      return Accept();
    }
    refusing.fetch_add(1);
    refuse = true;
  } else {
    const int now_open = open.fetch_add(1) + 1;
    if (probe != nullptr) probe->SetConnectionsOpen(listener, now_open);
  }
  std::shared_ptr<SessionBase> session;
  if (tls.has_value()) {
    auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        this, refuse, std::move(socket), *tls);
    s->set_id(Register(s));
    session = std::move(s);
  } else {
    auto s = std::make_shared<Session<beast::tcp_stream>>(this, refuse, std::move(socket));
    s->set_id(Register(s));
    session = std::move(s);
  }
  session->Run();
  Accept();
}

void HttpServer::Impl::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping = true;
  net::post(acceptor_->get_executor(), [this] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    accept_retry_->cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    for (auto& [id, weak] : sessions_) {
      if (std::shared_ptr<SessionBase> s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (const auto& s : live) s->RequestStop();
  live.clear();  // unlocked: this may be the last reference, and ~Session unregisters
  {
    // Requests being handled finish and are answered; the rest close at once.
    std::unique_lock<std::mutex> lock(sessions_mu_);
    sessions_cv_.wait_for(lock, limits.request_timeout + std::chrono::seconds(1),
                          [this] { return sessions_.empty(); });
  }
  work_.reset();
  ioc_->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  pool.Shutdown();
  accept_retry_.reset();
  acceptor_.reset();
  ioc_.reset();  // destroys the handlers still queued, and with them the last connections
}

// --- HttpServer -----------------------------------------------------------------------------

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::EnableTls(const TlsSetup& setup) {
  ssl::context context(ssl::context::tls_server);
  if (!setup(context.native_handle())) {
    return absl::InternalError("cannot set up the TLS context");
  }
  impl_->tls.emplace(std::move(context));
  return absl::OkStatus();
}

void HttpServer::Get(const std::string& path, HttpHandler handler) {
  impl_->routes[path].get = std::move(handler);
}

void HttpServer::Post(const std::string& path, HttpHandler handler) {
  impl_->routes[path].post = std::move(handler);
}

void HttpServer::SetLimits(const HttpLimits& limits) {
  HttpLimits l = limits;
  l.request_timeout = std::max(l.request_timeout, std::chrono::seconds(1));
  l.idle_timeout = std::max(l.idle_timeout, std::chrono::seconds(1));
  l.max_header_bytes = std::max<size_t>(l.max_header_bytes, 1024);
  l.max_headers = std::max(l.max_headers, 1);
  l.max_connections = std::max(l.max_connections, 1);
  l.io_threads = std::max(l.io_threads, 1);
  l.body_budget_bytes = std::max(l.body_budget_bytes, 2 * kHttpBodyPaddingBytes);
  // A body the budget can never hold would wait for nothing: the budget is the larger limit.
  l.max_body_bytes = std::min(l.max_body_bytes, l.body_budget_bytes - kHttpBodyPaddingBytes);
  impl_->limits = l;
}

void HttpServer::SetLimits(size_t max_body_bytes, int request_timeout_seconds) {
  HttpLimits l;
  l.max_body_bytes = max_body_bytes;
  l.body_budget_bytes = std::max(l.body_budget_bytes, max_body_bytes + kHttpBodyPaddingBytes);
  l.request_timeout = std::chrono::seconds(request_timeout_seconds);
  SetLimits(l);
}

const HttpLimits& HttpServer::limits() const { return impl_->limits; }

void HttpServer::SetConcurrency(AdmissionLimits limits, AdmissionListener listener) {
  impl_->pool.Configure(limits, std::move(listener));
}

void HttpServer::SetProbe(metrics::HttpProbe* probe, metrics::HttpListener listener) {
  impl_->probe = probe;
  impl_->listener = listener;
}

void HttpServer::SetWorkerHookForTest(std::function<void()> hook) {
  impl_->pool.SetHook(std::move(hook));
}

HttpServer::Load HttpServer::load() const {
  Load load;
  impl_->pool.Fill(&load);
  load.connections_open = impl_->open.load();
  load.connections_refused = impl_->refused.load();
  if (impl_->budget != nullptr) {
    load.body_bytes_in_flight = impl_->budget->in_use_bytes();
    load.bodies_waiting = static_cast<int>(impl_->budget->waiting());
    load.peak_body_bytes_in_flight = impl_->budget->peak_bytes();
  }
  return load;
}

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  return impl_->Start(host, port);
}

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace gpufit::server

#include "server/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace gpufit::server {

struct HttpServer::QueueState {
  AdmissionLimits limits{8, 64, {}};
  AdmissionListener listener;
  std::mutex mu;
  int busy = 0;         // guarded by mu
  int pending = 0;      // accepted, not yet picked up by a worker; guarded by mu
  int peak_queued = 0;  // guarded by mu
  std::atomic<long> shed{0};
  std::atomic<size_t> max_body_bytes{0};  // SetLimits(), for the "too large" message

  // Connections no free worker can take: what the bound limits.
  int QueuedLocked() const { return std::max(0, busy + pending - limits.max_in_flight); }
  void NotifyLocked() {
    if (listener.changed) listener.changed(busy, QueuedLocked());
  }
};

namespace {

// True on the thread that answers connections past the bound (and on the accept thread when
// even that thread is behind): the pre-routing handler sheds their requests.
thread_local bool t_shedding = false;

// httplib's TaskQueue with bounds (its ThreadPool queues without limit): `max_in_flight`
// workers, at most `max_queued` connections waiting for them, and past that one shed thread
// that answers 503 (bounded too: when it is `max_queued` behind, the accept thread sheds
// inline, which pushes back on new connections through the kernel's listen backlog).
class BoundedTaskQueue final : public httplib::TaskQueue {
 public:
  explicit BoundedTaskQueue(std::shared_ptr<HttpServer::QueueState> state)
      : state_(std::move(state)) {
    for (int i = 0; i < state_->limits.max_in_flight; ++i) {
      workers_.emplace_back([this] { Work(); });
    }
    shedder_ = std::thread([this] { Shed(); });
  }
  ~BoundedTaskQueue() override = default;

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      const AdmissionLimits& limits = state_->limits;
      if (state_->busy + state_->pending < limits.max_in_flight + limits.max_queued) {
        jobs_.push_back(std::move(fn));
        ++state_->pending;
        state_->peak_queued = std::max(state_->peak_queued, state_->QueuedLocked());
        state_->NotifyLocked();
        work_cv_.notify_one();
        return;
      }
      if (static_cast<int>(shed_jobs_.size()) < std::max(16, limits.max_queued)) {
        shed_jobs_.push_back(std::move(fn));
        shed_cv_.notify_one();
        return;
      }
    }
    t_shedding = true;
    fn();
    t_shedding = false;
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      shutting_down_ = true;
    }
    work_cv_.notify_all();
    shed_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    shedder_.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(state_->mu);
        work_cv_.wait(lock, [this] { return !jobs_.empty() || shutting_down_; });
        if (jobs_.empty()) return;  // shutting down with nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        --state_->pending;
        ++state_->busy;
        state_->NotifyLocked();
      }
      fn();
      std::lock_guard<std::mutex> lock(state_->mu);
      --state_->busy;
      state_->NotifyLocked();
    }
  }

  void Shed() {
    t_shedding = true;
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(state_->mu);
        shed_cv_.wait(lock, [this] { return !shed_jobs_.empty() || shutting_down_; });
        if (shed_jobs_.empty()) return;
        fn = std::move(shed_jobs_.front());
        shed_jobs_.pop_front();
      }
      fn();
    }
  }

  const std::shared_ptr<HttpServer::QueueState> state_;
  std::vector<std::thread> workers_;
  std::thread shedder_;
  std::condition_variable work_cv_;
  std::condition_variable shed_cv_;
  std::deque<std::function<void()>> jobs_;       // guarded by state_->mu
  std::deque<std::function<void()>> shed_jobs_;  // guarded by state_->mu
  bool shutting_down_ = false;                   // guarded by state_->mu
};

httplib::Server::Handler Adapt(HttpHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    HttpResponse out;
    try {
      out = handler(HttpRequest{req.method, req.path, req.body});
    } catch (const std::exception& e) {
      out = HttpResponse{500, "application/json", R"({"error":"internal error"})"};
    }
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
  };
}

}  // namespace

HttpServer::HttpServer()
    : server_(std::make_unique<httplib::Server>()), queue_state_(std::make_shared<QueueState>()) {
  Configure();
}

absl::Status HttpServer::EnableTls(const TlsSetup& setup) {
  auto server =
      std::make_unique<httplib::SSLServer>([&setup](SSL_CTX& ctx) { return setup(&ctx); });
  if (!server->is_valid()) return absl::InternalError("cannot set up the TLS context");
  server_ = std::move(server);
  Configure();
  return absl::OkStatus();
}

void HttpServer::Configure() {
  server_->new_task_queue = [state = queue_state_] { return new BoundedTaskQueue(state); };
  // Past the bound: answer without reading the body (it may be large, and reading it is
  // what the server has no capacity for). GETs are health probes and scrapes: cheap, and
  // failing them would get a busy gpufitd restarted or look like it was down.
  server_->set_pre_routing_handler(
      [state = queue_state_](const httplib::Request& req, httplib::Response& res) {
        if (!t_shedding || req.method == "GET") return httplib::Server::HandlerResponse::Unhandled;
        state->shed.fetch_add(1);
        if (state->listener.shed) state->listener.shed("queue_full");
        // The body stays unread, so the connection cannot carry another request: httplib closes
        // it after the response when the request asked for that (the object is not const).
        const_cast<httplib::Request&>(req).set_header("Connection", "close");
        res.status = 503;
        res.set_header("Retry-After", "1");
        res.set_content(absl::StrCat("{\"error\":\"overloaded: ", state->limits.max_in_flight,
                                     " requests in progress and ", state->limits.max_queued,
                                     " waiting (--http-threads, --http-max-queued); retry "
                                     "later\"}"),
                        "application/json");
        return httplib::Server::HandlerResponse::Handled;
      });
  // httplib's default sets SO_REUSEPORT, with which a second gpufitd on the same port would
  // bind fine and steal half the scrapes. SO_REUSEADDR alone still allows a quick restart.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // An idle keep-alive connection (Prometheus keeps one per target) holds a worker until its
  // keep-alive timeout, and stop() joins the workers: 1 s instead of httplib's 5 s keeps
  // shutdown within the gRPC grace period. Reconnecting once a second costs nothing.
  server_->set_keep_alive_timeout(1);
  // Routing misses (any path or method without a route) get a JSON 404. The error handler
  // sees every status >= 400, so leave responses a handler wrote alone.
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body_bytes = &queue_state_->max_body_bytes](const httplib::Request& req,
                                                       httplib::Response& res) {
        if (res.status == 404 && res.body.empty()) {
          res.set_content(R"({"error":"not found"})", "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }
        // httplib's own 400s (a broken request line or headers, bad chunk framing, a chunked
        // body over the limit) come without a body; clients still get a JSON error.
        if (res.status == 400 && res.body.empty()) {
          res.set_content(
              absl::StrCat("{\"error\":\"bad request: malformed HTTP (request line, headers or "
                           "body framing), or a body over the limit of ",
                           max_body_bytes->load(), " bytes\"}"),
              "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }
        if (res.status == 413) {  // SetLimits(); a bad request like any other to its clients
          res.status = 400;
          // httplib caps form-encoded bodies at 8 KiB whatever the limit.
          const bool form = absl::StartsWith(req.get_header_value("Content-Type"),
                                             "application/x-www-form-urlencoded");
          res.set_content(form ? "{\"error\":\"body: too large (form-encoded bodies: 8 KiB; send "
                                 "Content-Type: application/json)\"}"
                               : absl::StrCat("{\"error\":\"body: too large (the limit is ",
                                              max_body_bytes->load(), " bytes)\"}"),
                          "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      }));
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& path, HttpHandler handler) {
  server_->Get(path, Adapt(std::move(handler)));
}

void HttpServer::Post(const std::string& path, HttpHandler handler) {
  server_->Post(path, Adapt(std::move(handler)));
}

void HttpServer::SetLimits(size_t max_body_bytes, int read_timeout_seconds) {
  server_->set_payload_max_length(max_body_bytes);
  queue_state_->max_body_bytes = max_body_bytes;
  server_->set_read_timeout(read_timeout_seconds, 0);
  server_->set_write_timeout(read_timeout_seconds, 0);
}

void HttpServer::SetConcurrency(AdmissionLimits limits, AdmissionListener listener) {
  limits.max_in_flight = std::max(1, limits.max_in_flight);
  limits.max_queued = std::max(0, limits.max_queued);
  queue_state_->limits = limits;
  queue_state_->listener = std::move(listener);
}

HttpServer::Load HttpServer::load() const {
  std::lock_guard<std::mutex> lock(queue_state_->mu);
  return Load{queue_state_->busy, queue_state_->QueuedLocked(), queue_state_->peak_queued,
              queue_state_->shed.load()};
}

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  int bound = 0;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
    if (bound <= 0) bound = 0;
  } else if (server_->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so Stop() right after Start() would hang
  // in join(); wait for the loop (microseconds).
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return bound;
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace gpufit::server

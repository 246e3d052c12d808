#include "server/http_server.h"

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace gpufit::server {
namespace {

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

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) { Configure(); }

absl::Status HttpServer::EnableTls(const TlsSetup& setup) {
  auto server =
      std::make_unique<httplib::SSLServer>([&setup](SSL_CTX& ctx) { return setup(&ctx); });
  if (!server->is_valid()) return absl::InternalError("cannot set up the TLS context");
  server_ = std::move(server);
  Configure();
  return absl::OkStatus();
}

void HttpServer::Configure() {
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
  server_->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404 && res.body.empty()) {
          res.set_content(R"({"error":"not found"})", "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }
        if (res.status == 413) {  // SetLimits(); a bad request like any other to its clients
          res.status = 400;
          res.set_content(
              "{\"error\":\"body: too large (form-encoded bodies: 8 KiB; send Content-Type: "
              "application/json)\"}",
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
  server_->set_read_timeout(read_timeout_seconds, 0);
  server_->set_write_timeout(read_timeout_seconds, 0);
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

// A stand-in for Prometheus in tests: a raw TCP server on 127.0.0.1 (port 0) that reads one
// HTTP request per connection and then answers, or misbehaves, as its mode says. Raw sockets
// rather than an HTTP library, so that it can trickle, stream a gigabyte or say nothing at
// all, and count exactly what reached it. Thread-safe; each connection has a thread.
#ifndef GPUFIT_TESTS_SERVER_FAKE_PROMETHEUS_H_
#define GPUFIT_TESTS_SERVER_FAKE_PROMETHEUS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gpufit::testing {

// A Prometheus instant-query answer of one sample.
inline std::string OneSampleAnswer(const std::string& value) {
  return R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,")" +
         value + R"("]}]}})";
}

class FakePrometheus {
 public:
  enum class Mode {
    kAnswer,        // 200 with `body`
    kTrickle,       // 200 headers, then one byte of body every 100 ms, forever
    kHugeChunked,   // 200 with 1 GiB of chunked body, streamed from a 64 KiB buffer
    kHugeDeclared,  // 200 with Content-Length: 1 GiB and the body streamed the same way
    kStall,         // reads the request, then says nothing until the client goes away
  };

  static constexpr uint64_t kHugeBytes = uint64_t{1} << 30;

  explicit FakePrometheus(Mode mode, std::string body = OneSampleAnswer("3"))
      : mode_(mode), body_(std::move(body)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("FakePrometheus: listen");
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakePrometheus() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(connections_);
    }
    for (std::thread& t : threads) t.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  FakePrometheus(const FakePrometheus&) = delete;
  FakePrometheus& operator=(const FakePrometheus&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Connections accepted, requests read (headers complete), connections the client closed
  // while this server was still sending or waiting, body bytes sent.
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }
  int closed_by_client() const { return closed_by_client_.load(); }
  uint64_t body_bytes_sent() const { return body_bytes_sent_.load(); }
  std::string last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

  // Polls `done` every 10 ms for up to `limit`; true once it holds. For bounded waits that
  // fail only when something hangs.
  static bool WaitFor(const std::function<bool()>& done,
                      std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  // Waits up to 50 ms for `events` on `fd`; the revents, 0 on timeout.
  static short Poll(int fd, short events) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, 50) > 0 ? p.revents : 0;
  }

  void AcceptLoop() {
    while (!stop_) {
      if ((Poll(listen_fd_, POLLIN) & POLLIN) == 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, fd] {
        Serve(fd);
        ::close(fd);
      });
    }
  }

  // Sends all of `data`; false once the client has gone (or on stop).
  bool Send(int fd, const char* data, size_t size) {
    while (size > 0) {
      if (stop_) return false;
      if ((Poll(fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP)) == 0) continue;
      const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        ++closed_by_client_;
        return false;
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  bool Send(int fd, const std::string& s) { return Send(fd, s.data(), s.size()); }

  void Serve(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      if (stop_) return;
      if ((Poll(fd, POLLIN) & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_request_ = request;
    }
    ++requests_;
    switch (mode_) {
      case Mode::kAnswer:
        Send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_);
        return;
      case Mode::kTrickle:
        if (!Send(fd,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "Content-Length: 1000000\r\n\r\n")) {
          return;
        }
        for (;;) {
          for (int i = 0; i < 10; ++i) {  // 100 ms, stop-aware
            if (stop_) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
          if (!Send(fd, " ", 1)) return;
          ++body_bytes_sent_;
        }
      case Mode::kHugeChunked:
      case Mode::kHugeDeclared: {
        const bool chunked = mode_ == Mode::kHugeChunked;
        if (!Send(fd, chunked ? std::string("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                            "Transfer-Encoding: chunked\r\n\r\n")
                              : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: " +
                                    std::to_string(kHugeBytes) + "\r\n\r\n")) {
          return;
        }
        const std::string block(64 * 1024, ' ');  // JSON whitespace: a valid prefix forever
        for (uint64_t sent = 0; sent < kHugeBytes; sent += block.size()) {
          if (chunked && !Send(fd, "10000\r\n")) return;
          if (!Send(fd, block)) return;
          if (chunked && !Send(fd, "\r\n")) return;
          body_bytes_sent_ += block.size();
        }
        if (chunked) Send(fd, "0\r\n\r\n");
        return;
      }
      case Mode::kStall:
        while (!stop_) {
          if ((Poll(fd, POLLIN | POLLRDHUP) & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) == 0) {
            continue;
          }
          if (::recv(fd, buf, sizeof(buf), 0) <= 0) {
            ++closed_by_client_;
            return;
          }
        }
        return;
    }
  }

  const Mode mode_;
  const std::string body_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_by_client_{0};
  std::atomic<uint64_t> body_bytes_sent_{0};
  mutable std::mutex mu_;
  std::string last_request_;              // guarded by mu_
  std::vector<std::thread> connections_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_SERVER_FAKE_PROMETHEUS_H_

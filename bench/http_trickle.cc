// http_trickle: what slow clients cost everyone else on gpufitd's HTTP port. A normal client
// (a new connection per request, as kubelet probes and a fresh kube-scheduler connection do)
// times GET /healthz and POST /filter (the extender wire fixture, full-Node mode) twice in one
// run: once on a quiet port, once while --connections clients each hold a connection open
// and send one byte of a request every second (a slowloris; a connection the server closes
// is reopened at once, so the pressure never lets up). It prints p50/p99 side by side, their
// ratio, requests that failed, and the daemon's peak RSS (VmHWM of --pid).
//
// The goal (issue 13): p99 under trickle < 2x the quiet p99, RSS under the chart's limit.
// Not a test: it asserts nothing; bench/run_http_trickle.sh starts a gpufitd and runs it.
//
// Usage: http_trickle --port P --pid PID [--connections 500] [--requests 200]
//                     [--settle-seconds 5] [--timeout-seconds 10] [--body FILE]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  int pid = 0;
  int connections = 500;
  int requests = 200;  // per endpoint per phase
  int settle_seconds = 5;
  int timeout_seconds = 10;
  std::string body_file =
      GPUFIT_SOURCE_DIR "/tests/testdata/fixtures/extender/filter-request-nodes.json";
};

size_t PeakRssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

int Connect(int port, bool blocking, int timeout_seconds) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
  if (fd < 0) return -1;
  if (blocking) {
    timeval tv{timeout_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on a new connection; its latency in microseconds, or -1 if it failed (no
// status 200 within the timeout).
double TimedRequest(const Options& o, const std::string& request) {
  const auto start = Clock::now();
  const int fd = Connect(o.port, true, o.timeout_seconds);
  if (fd < 0) return -1;
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return -1;
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (response.rfind("HTTP/1.1 200", 0) != 0) return -1;
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

struct Sample {
  std::vector<double> latencies_us;
  int failures = 0;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// The normal client: `requests` of each kind, interleaved.
std::map<std::string, Sample> Measure(const Options& o, const std::string& body) {
  const std::string health =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  const std::string filter = absl::StrCat(
      "POST /filter HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: ",
      body.size(), "\r\n\r\n", body);
  std::map<std::string, Sample> out;
  for (int i = 0; i < o.requests; ++i) {
    for (const auto& [name, request] :
         {std::pair<std::string, const std::string&>{"GET /healthz", health},
          std::pair<std::string, const std::string&>{"POST /filter", filter}}) {
      const double us = TimedRequest(o, request);
      if (us < 0) {
        ++out[name].failures;
      } else {
        out[name].latencies_us.push_back(us);
      }
    }
  }
  return out;
}

// Slow clients: each connection sends the next byte of a request every second.
class Trickle {
 public:
  Trickle(const Options& o) : o_(o) {
    const std::string request =
        "POST /filter HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000\r\n\r\n";
    request_ = request + std::string(1000000, ' ');
    conns_.resize(static_cast<size_t>(o.connections));
    for (Conn& c : conns_) Open(c);
    thread_ = std::thread([this] { Run(); });
  }
  ~Trickle() {
    stop_ = true;
    thread_.join();
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
  }
  long reopened() const { return reopened_; }
  int open_now() const { return open_; }

 private:
  struct Conn {
    int fd = -1;
    size_t next = 0;
  };
  void Open(Conn& c) {
    c.fd = Connect(o_.port, false, 0);
    c.next = 0;
  }
  void Run() {
    while (!stop_) {
      const auto tick = Clock::now();
      int open = 0;
      for (Conn& c : conns_) {
        if (c.fd < 0) {
          Open(c);
          ++reopened_;
          continue;
        }
        const ssize_t n = ::send(c.fd, request_.data() + c.next % request_.size(), 1,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == 1) {
          ++c.next;
          ++open;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) {
          ++open;  // still connecting, or the server's buffer is full: hold on
        } else {
          ::close(c.fd);  // the server closed it: reopen next tick
          c.fd = -1;
        }
      }
      open_ = open;
      while (!stop_ && Clock::now() - tick < std::chrono::seconds(1)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  const Options& o_;
  std::string request_;
  std::vector<Conn> conns_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> reopened_{0};
  std::atomic<int> open_{0};
};

bool ParseFlags(int argc, char** argv, Options* o) {
  std::map<std::string, int*> ints = {{"--port", &o->port},
                                      {"--pid", &o->pid},
                                      {"--connections", &o->connections},
                                      {"--requests", &o->requests},
                                      {"--settle-seconds", &o->settle_seconds},
                                      {"--timeout-seconds", &o->timeout_seconds}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--body") {
      o->body_file = value;
    } else if (auto it = ints.find(flag); it != ints.end()) {
      if (!absl::SimpleAtoi(value, it->second) || *it->second < 0) {
        std::cerr << "http_trickle: " << flag << ": not a non-negative integer\n";
        return false;
      }
    } else {
      std::cerr << "http_trickle: unknown flag " << flag << "\n";
      return false;
    }
  }
  if (o->port <= 0) {
    std::cerr << "http_trickle: --port is required\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseFlags(argc, argv, &o)) return 2;
  // Each slow client is a file descriptor here too.
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);

  std::ifstream in(o.body_file);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string body = ss.str();
  if (body.empty()) {
    std::cerr << "http_trickle: cannot read " << o.body_file << "\n";
    return 2;
  }

  std::cout << absl::StrFormat(
      "gpufitd on 127.0.0.1:%d; %d requests per endpoint per phase; %d slow clients sending "
      "1 byte/s\n\n",
      o.port, o.requests, o.connections);
  const auto quiet = Measure(o, body);
  std::map<std::string, Sample> slow;
  long reopened = 0;
  int open = 0;
  {
    Trickle trickle(o);
    std::this_thread::sleep_for(std::chrono::seconds(o.settle_seconds));
    open = trickle.open_now();
    slow = Measure(o, body);
    reopened = trickle.reopened();
  }
  std::cout << absl::StrFormat("%-14s %12s %12s %12s %12s %8s %8s %10s\n", "endpoint",
                               "quiet p50 us", "quiet p99 us", "slow p50 us", "slow p99 us",
                               "q failed", "s failed", "p99 ratio");
  double worst = 0;
  for (const auto& [name, q] : quiet) {
    const Sample& s = slow[name];
    const double ratio =
        Percentile(s.latencies_us, 0.99) / std::max(1.0, Percentile(q.latencies_us, 0.99));
    // A request that failed under trickle is worse than any latency.
    worst = std::max(worst, s.failures > 0 ? std::numeric_limits<double>::infinity() : ratio);
    std::cout << absl::StrFormat("%-14s %12.0f %12.0f %12.0f %12.0f %8d %8d %10.2f\n", name,
                                 Percentile(q.latencies_us, 0.50), Percentile(q.latencies_us, 0.99),
                                 Percentile(s.latencies_us, 0.50), Percentile(s.latencies_us, 0.99),
                                 q.failures, s.failures, ratio);
  }
  std::cout << absl::StrFormat(
      "\nslow clients open after settling: %d of %d; reopened after the server closed them: "
      "%ld\n",
      open, o.connections, reopened);
  if (o.pid > 0) {
    std::cout << absl::StrFormat("gpufitd peak RSS (VmHWM): %.1f MiB\n",
                                 static_cast<double>(PeakRssBytes(o.pid)) / (1 << 20));
  }
  std::cout << absl::StrFormat("worst p99 ratio (slow / quiet): %.2f\n", worst);
  return 0;
}

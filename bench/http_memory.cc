// The memory figures behind gpufitd's HTTP limits (docs/memory-budget.md): what
// one connection costs, and the scheduler extender's expansion factor (the peak resident
// memory one call takes, body included, divided by its body size; bodies in flight are
// bounded by --http-body-budget-bytes, so budget x factor is what they can cost). Not a test
// and not a Google Benchmark program: run it, one measurement per process (peak RSS is per
// process).
//
//   build/bench/http_memory extender SCENARIO [BODY_MIB]
// Scenarios (bodies from tests/server/generated_cluster.h):
//   nodes       filter, Nodes mode: full Node objects (~3 KB each), a pod gpufit places
//   names-miss  filter, NodeNames mode, no name in the node cache: the longest answer per
//               input byte (every name gets a FailedNodes message)
//   names-pass  filter, NodeNames mode, a pod without gpufit annotations (every name kept)
//   prio-names  prioritize, NodeNames mode, no name in the node cache
//   nodes-dense filter, Nodes mode, the most nodes a call may name (15,000), each padded with
//               empty arrays: the densest JSON for the parser (hostile)
// Every scenario names at most 15,000 nodes (the extender's cap) and fills the body with
// larger nodes or longer names instead.
// Prints: body bytes, peak bytes above the baseline before the body existed, the factor, and
// the resident bytes left after the call (what stays retained). NO_TUNE=1 skips gpufitd's
// malloc settings (server/allocator.h), to compare.
//
//   build/bench/http_memory connections MODE N [CERT KEY]
// An HttpServer with the daemon's default limits (HTTPS with CERT and KEY) and N client
// connections from a child process (so that only the server's memory is counted). Modes:
//   idle     each sent one request, got its answer, and stays open (keep-alive)
//   headers  each sent all but the last bytes of the largest header allowed (16 KiB) and
//            stops: the most a connection holds before a request is refused or served
// Prints the server's resident bytes per connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "config/service_config.h"
#include "k8s/node_cache.h"
#include "server/allocator.h"
#include "server/config_store.h"
#include "server/extender.h"
#include "server/generated_cluster.h"
#include "server/http_server.h"

namespace {

size_t StatusKib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
  }
  return 0;
}

// Resets VmHWM (the peak) to the current RSS (Linux >= 4.0, "5" to clear_refs).
void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// A pod without gpufit.io/ annotations: the extender passes every node through.
std::string PlainPod() { return R"({"metadata":{"name":"web","namespace":"default"}})"; }

// The extender takes at most this many nodes per call (kMaxNodesPerCall in extender.cc);
// bodies past it are refused before any per-node memory exists, so the scenarios fill
// `target_bytes` with at most this many nodes, each as large as it takes.
constexpr size_t kMaxNodes = 15'000;

std::string NamesBody(size_t target_bytes, const std::string& pod) {
  std::string body = "{\"Pod\":" + pod + ",\"Nodes\":null,\"NodeNames\":[";
  body.reserve(target_bytes + 64);
  const size_t name_bytes = std::max<size_t>(16, target_bytes / kMaxNodes);
  for (size_t i = 0; body.size() < target_bytes && i < kMaxNodes; ++i) {
    if (i > 0) body += ",";
    std::string name = gpufit::testing::NodeName(static_cast<int>(i));
    name.resize(std::max(name.size(), name_bytes - 3), 'x');
    body += "\"" + name + "\"";
  }
  body += "]}";
  return body;
}

std::string NodesBody(size_t target_bytes) {
  std::string body =
      "{\"Pod\":" + gpufit::testing::SamplePod() + ",\"Nodes\":{\"metadata\":{},\"items\":[";
  body.reserve(target_bytes + 4096);
  for (int i = 0; body.size() < target_bytes; ++i) {
    if (i > 0) body += ",";
    body += gpufit::testing::GeneratedNode(i);
  }
  body += "]},\"NodeNames\":null}";
  return body;
}

// The most nodes, each padded with a field of empty arrays ([],[],...): one JSON structural
// per byte, the densest input for the parser's structural index (4 bytes per structural).
std::string DenseNodesBody(size_t target_bytes) {
  std::string body = "{\"Pod\":" + gpufit::testing::SamplePod() + ",\"Nodes\":{\"items\":[";
  body.reserve(target_bytes + 64);
  const size_t per_node = target_bytes / kMaxNodes;
  for (size_t i = 0; body.size() < target_bytes && i < kMaxNodes; ++i) {
    if (i > 0) body += ",";
    body += "{\"metadata\":{\"name\":\"" + gpufit::testing::NodeName(static_cast<int>(i)) +
            "\"},\"x\":[";
    for (size_t b = 40; b + 3 < per_node; b += 3) body += "[],";
    body += "[]]}";
  }
  body += "]}}";
  return body;
}

}  // namespace

int Extender(int argc, char** argv) {
  if (argc < 1) {
    std::fprintf(stderr,
                 "extender: nodes|nodes-dense|names-miss|names-pass|prio-names [BODY_MIB]\n");
    return 2;
  }
  const std::string scenario = argv[0];
  if (!getenv("NO_TUNE")) gpufit::server::TuneAllocatorForLargeRequests();  // as gpufitd does
  const size_t body_mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 32;
  gpufit::server::ConfigStore store(std::make_shared<const gpufit::config::ServiceConfig>(
      gpufit::config::DefaultServiceConfig()));
  gpufit::k8s::NodeCache cache;  // empty: every name is "not in the node cache yet"
  gpufit::server::Extender extender(&store, &cache, nullptr);
  // Warm up (code pages, the catalog, the parser's small allocations) on a small call.
  (void)extender.Filter(gpufit::testing::NodesArgs(2));

  const size_t baseline_kib = StatusKib("VmRSS");
  std::string body;
  if (scenario == "nodes") {
    body = NodesBody(body_mib << 20);
  } else if (scenario == "nodes-dense") {
    body = DenseNodesBody(body_mib << 20);
  } else if (scenario == "names-miss" || scenario == "prio-names") {
    body = NamesBody(body_mib << 20, gpufit::testing::SamplePod());
  } else if (scenario == "names-pass") {
    body = NamesBody(body_mib << 20, PlainPod());
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  // The body as the HTTP server hands it over: capacity for the JSON parser's padding.
  body.reserve(body.size() + gpufit::server::kHttpBodyPaddingBytes);
  ResetPeak();
  size_t answer_bytes = 0;
  {
    const gpufit::server::HttpResponse r = scenario == "prio-names"
                                               ? extender.Prioritize(body, body.capacity())
                                               : extender.Filter(body, body.capacity());
    answer_bytes = r.body.size();
    if (r.status != 200) {
      std::fprintf(stderr, "status %d: %.200s\n", r.status, r.body.c_str());
      return 1;
    }
  }
  const size_t peak_kib = StatusKib("VmHWM");
  const size_t body_bytes = body.size();
  std::string().swap(body);  // (move-assigning an empty string would keep the capacity)
  const size_t after_kib = StatusKib("VmRSS");
  const double peak_bytes = static_cast<double>(peak_kib - baseline_kib) * 1024;
  std::printf(
      "%-10s body %9zu bytes  answer %9zu bytes  peak %10.0f bytes  factor %5.2f  retained "
      "after %8.0f bytes\n",
      scenario.c_str(), body_bytes, answer_bytes, peak_bytes,
      peak_bytes / static_cast<double>(body_bytes),
      (static_cast<double>(after_kib) - static_cast<double>(baseline_kib)) * 1024);
  return 0;
}

namespace {

// The client side of `connections`, in a child process: connects `n` times to `port` and
// holds the connections until `done_fd` closes. Writes one byte to `ready_fd` when all are
// in the state `mode` asks for.
void Clients(const std::string& mode, int n, int port, bool tls, int ready_fd, int done_fd) {
  SSL_CTX* ctx = tls ? SSL_CTX_new(TLS_client_method()) : nullptr;
  std::vector<int> fds;
  std::vector<SSL*> ssls;
  // ~16 KiB in 15 lines: under both header limits (16384 bytes, 100 lines), never finished.
  std::string partial = "POST /echo HTTP/1.1\r\nHost: x\r\n";
  while (partial.size() < 16 * 1024 - 1200)
    partial += "X-Filler: " + std::string(1000, 'x') + "\r\n";
  for (int i = 0; i < n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(1);
    SSL* ssl = nullptr;
    if (tls) {
      ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) != 1) _exit(1);
    }
    const auto write_all = [&](const std::string& data) {
      if (tls) return SSL_write(ssl, data.data(), static_cast<int>(data.size())) > 0;
      return send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
    };
    if (mode == "idle") {
      if (!write_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) _exit(1);
      char buf[1024];
      const int got =
          tls ? SSL_read(ssl, buf, sizeof(buf)) : static_cast<int>(recv(fd, buf, sizeof(buf), 0));
      if (got <= 0) _exit(1);
    } else if (!write_all(partial)) {
      _exit(1);
    }
    fds.push_back(fd);
    ssls.push_back(ssl);
  }
  char c = 1;
  if (write(ready_fd, &c, 1) != 1) _exit(1);
  while (read(done_fd, &c, 1) > 0) {
  }
  _exit(0);
}

int Connections(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "connections: idle|headers N [CERT KEY]\n");
    return 2;
  }
  const std::string mode = argv[0];
  const int n = std::atoi(argv[1]);
  const bool tls = argc >= 4;
  // The child first, while this process has one thread; it waits for the port.
  int port_pipe[2];
  int ready_pipe[2];
  int done_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(ready_pipe) != 0 || pipe(done_pipe) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(done_pipe[1]);
    int port = 0;
    if (read(port_pipe[0], &port, sizeof(port)) != sizeof(port)) _exit(1);
    Clients(mode, n, port, tls, ready_pipe[1], done_pipe[0]);
  }
  close(done_pipe[0]);
  gpufit::server::TuneAllocatorForLargeRequests();
  gpufit::server::HttpServer server;
  gpufit::server::HttpLimits limits;  // the daemon's defaults
  limits.max_connections = n + 16;
  limits.request_timeout = std::chrono::seconds(600);  // they must stay while measured
  server.SetLimits(limits);
  if (tls) {
    const std::string cert = argv[2];
    const std::string key = argv[3];
    absl::Status s = server.EnableTls([&](ssl_ctx_st* ctx) {
      // As server/tls_reloader.cc sets up gpufitd's context: no session cache, no tickets.
      SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(ctx, 0);
      return SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
    });
    if (!s.ok()) return 1;
  }
  server.Get("/healthz", [](const gpufit::server::HttpRequest&) {
    return gpufit::server::HttpResponse{200, "text/plain", "ok"};
  });
  server.Post("/echo", [](const gpufit::server::HttpRequest& r) {
    return gpufit::server::HttpResponse{200, "text/plain", r.body};
  });
  absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
  if (!port.ok()) return 1;
  const size_t baseline_kib = StatusKib("VmRSS");
  if (write(port_pipe[1], &*port, sizeof(int)) != sizeof(int)) return 1;
  char c;
  if (read(ready_pipe[0], &c, 1) != 1) {
    std::fprintf(stderr, "the clients failed\n");
    return 1;
  }
  while (server.load().connections_open < n) usleep(10000);
  usleep(500000);  // the last reads reach the server's buffers
  const size_t loaded_kib = StatusKib("VmRSS");
  std::printf("connections %-7s %s n=%d  server RSS +%zu KiB  per connection %.1f KiB\n",
              mode.c_str(), tls ? "https" : "http ", n, loaded_kib - baseline_kib,
              static_cast<double>(loaded_kib - baseline_kib) / n);
  close(done_pipe[1]);
  int status = 0;
  waitpid(child, &status, 0);
  server.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "extender") return Extender(argc - 2, argv + 2);
  if (what == "connections") return Connections(argc - 2, argv + 2);
  std::fprintf(stderr, "usage: %s extender SCENARIO [BODY_MIB] | connections MODE N [CERT KEY]\n",
               argv[0]);
  return 2;
}

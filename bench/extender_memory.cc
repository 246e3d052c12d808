// The scheduler extender's memory expansion factor: the peak resident memory one call takes,
// body included, divided by its body size. gpufitd's HTTP side admits bodies against a byte
// budget (--http-body-budget-bytes); budget x this factor is what bodies in flight can cost
// (README "HTTP limits and memory"). Not a test and not a Google Benchmark program: run it,
// one scenario per process (peak RSS is per process):
//   build/bench/extender_memory SCENARIO [BODY_MIB]
// Scenarios (bodies from tests/server/generated_cluster.h):
//   nodes       filter, Nodes mode: full Node objects (~3 KB each), a pod gpufit places
//   names-miss  filter, NodeNames mode, no name in the node cache: the longest answer per
//               input byte (every name gets a FailedNodes message)
//   names-pass  filter, NodeNames mode, a pod without gpufit annotations (every name kept)
//   prio-names  prioritize, NodeNames mode, no name in the node cache
//   nodes-tiny  filter, Nodes mode, minimal Node objects ({"metadata":{"name":...}}): the
//               most nodes (and answer entries) per input byte
// Prints: scenario, body bytes, peak bytes above the baseline before the body existed, the
// factor, and the resident bytes left after the call (what stays retained).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "config/service_config.h"
#include "k8s/node_cache.h"
#include "server/allocator.h"
#include "server/config_store.h"
#include "server/extender.h"
#include "server/generated_cluster.h"

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

std::string NamesBody(size_t target_bytes, const std::string& pod) {
  std::string body = "{\"Pod\":" + pod + ",\"Nodes\":null,\"NodeNames\":[";
  body.reserve(target_bytes + 64);
  for (int i = 0; body.size() < target_bytes; ++i) {
    if (i > 0) body += ",";
    body += "\"" + gpufit::testing::NodeName(i) + "\"";
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

std::string TinyNodesBody(size_t target_bytes) {
  std::string body = "{\"Pod\":" + gpufit::testing::SamplePod() + ",\"Nodes\":{\"items\":[";
  body.reserve(target_bytes + 64);
  for (int i = 0; body.size() < target_bytes; ++i) {
    if (i > 0) body += ",";
    body += "{\"metadata\":{\"name\":\"" + gpufit::testing::NodeName(i) + "\"}}";
  }
  body += "]}}";
  return body;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s nodes|nodes-tiny|names-miss|names-pass|prio-names [BODY_MIB]\n",
                 argv[0]);
    return 2;
  }
  const std::string scenario = argv[1];
  if (!getenv("NO_TUNE")) gpufit::server::TuneAllocatorForLargeRequests();  // as gpufitd does
  const size_t body_mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 32;
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
  } else if (scenario == "nodes-tiny") {
    body = TinyNodesBody(body_mib << 20);
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

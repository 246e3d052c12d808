#include "server/memory_budget.h"

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "config/yaml_reader.h"

namespace gpufit::server {
namespace {

constexpr double kMiB = 1 << 20;
// Connections past the cap are accepted, answered 503 and closed; this many may be in that
// state at once (the accept loop's backlog of refusals).
constexpr int kRefusedConnectionsInFlight = 64;
// A KEDA StreamIsActive stream holds its (validated, so small) ScaledObjectRef: metadata keys
// are a fixed set and the query is capped at 16 KiB (server/keda_metadata.h).
constexpr double kStreamBytes = 32 * 1024;

std::string MiB(double bytes) { return absl::StrFormat("%.0f MiB", bytes / kMiB); }

}  // namespace

MemoryBudget ComputeMemoryBudget(const DaemonOptions& o) {
  MemoryBudget b;
  auto add = [&b](std::string area, std::string formula, double bytes) {
    b.terms.push_back({std::move(area), std::move(formula), bytes});
    b.total_bytes += bytes;
  };
  add("process at rest", "started, built-in catalog, no calls", kBaseResidentBytes);
  const bool tls = !o.http_tls_cert_path.empty();
  const double per_connection = tls ? kHttpsConnectionBytes : kHttpConnectionBytes;
  add("HTTP connections",
      absl::StrFormat("(--http-max-connections %d + %d being refused) x %.0f KiB (%s)",
                      o.http_max_connections, kRefusedConnectionsInFlight, per_connection / 1024,
                      tls ? "TLS" : "plain"),
      (o.http_max_connections + kRefusedConnectionsInFlight) * per_connection);
  add("HTTP request bodies",
      absl::StrFormat("--http-body-budget-bytes %s x %.1f (extender parse, densest JSON)",
                      MiB(static_cast<double>(o.http_body_budget_bytes)),
                      kExtenderBytesPerBodyByte),
      static_cast<double>(o.http_body_budget_bytes) * kExtenderBytesPerBodyByte);
  add("gRPC calls",
      absl::StrFormat("(--grpc-max-in-flight %d + --grpc-max-queued %d) x --max-message-bytes "
                      "%s x %.1f",
                      o.grpc_max_in_flight, o.grpc_max_queued,
                      MiB(static_cast<double>(o.max_message_bytes)), kGrpcBytesPerMessageByte),
      (o.grpc_max_in_flight + o.grpc_max_queued) * static_cast<double>(o.max_message_bytes) *
          kGrpcBytesPerMessageByte);
  add("KEDA streams",
      absl::StrFormat("--grpc-max-streams %d x %.0f KiB", o.grpc_max_streams, kStreamBytes / 1024),
      o.grpc_max_streams * kStreamBytes);
  add("fleet solver", "one small-lane and one large-lane solve at the size bounds",
      kFleetSolverBytes);
  add("Prometheus answers", "16 queries at once x 3.1 MiB", kPrometheusBytes);
  add("config reloads", "2 overlapping reads x 8 MiB (the file size cap)",
      2.0 * static_cast<double>(config::internal::kMaxConfigFileBytes));
  return b;
}

std::string FormatMemoryBudget(const MemoryBudget& budget) {
  std::string out;
  for (const MemoryBudgetTerm& t : budget.terms) {
    absl::StrAppend(&out, absl::StrFormat("%-20s %8s  %s\n", t.area, MiB(t.bytes), t.formula));
  }
  absl::StrAppend(&out, absl::StrFormat("%-20s %8s\n", "total", MiB(budget.total_bytes)));
  return out;
}

std::optional<double> ContainerMemoryLimitBytes() {
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text)) continue;
    double bytes = 0;
    // "max" (v2) or a huge number (v1's "no limit") mean no limit.
    if (text == "max" || !absl::SimpleAtod(text, &bytes) || bytes <= 0 || bytes >= 1e18) {
      return std::nullopt;
    }
    return bytes;
  }
  return std::nullopt;
}

}  // namespace gpufit::server

// gpufitd's memory budget: the most resident memory its limits let clients make it hold, as one
// calculation from the flags (docs/memory-budget.md shows it for the defaults). Each term is a
// limit times a cost measured per unit; the chart's container memory limit
// (helm/gpufit/values.yaml resources.limits.memory) is chosen above the default total, a test
// keeps the two in step (tests/server/memory_budget_test.cc), and tests/front_door drives every
// door at once against the real binary and checks its peak RSS stays under the chart's limit.
//
// At startup gpufitd logs the total and warns when it exceeds the container's memory limit
// (cgroup memory.max): then a hostile client could get it OOM-killed, and the flags to lower
// are named. Pure functions; thread-safe.
#ifndef GPUFIT_SERVER_MEMORY_BUDGET_H_
#define GPUFIT_SERVER_MEMORY_BUDGET_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "server/daemon.h"

namespace gpufit::server {

// Measured costs per unit (bench/ and tests/front_door; machine: Debian 12, glibc 2.36).
// Resident memory of a started gpufitd with the built-in catalog, before any call (23-29 MiB
// measured; the margin covers the config's catalog and metrics series).
inline constexpr double kBaseResidentBytes = 32.0 * (1 << 20);
// One HTTP connection holding the largest header allowed, not yet answered: 19 KiB over
// plain HTTP, 98 KiB with TLS (bench/http_memory connections headers, OpenSSL's buffers).
inline constexpr double kHttpConnectionBytes = 19.0 * 1024;
inline constexpr double kHttpsConnectionBytes = 98.0 * 1024;
// Peak memory of one extender call per byte of its body, for the densest JSON the extender
// accepts (15,000 nodes padded with empty arrays; bench/http_memory nodes-dense: 5.0; the
// front-door test measured 5.6 through the real server). Real Nodes-mode traffic is ~1.7.
inline constexpr double kExtenderBytesPerBodyByte = 5.6;
// A gRPC call holding its request: the parsed message plus the call's buffers and thread,
// per byte of the largest message (1.55 measured with 208 calls of 1 MiB held at once).
inline constexpr double kGrpcBytesPerMessageByte = 1.6;
// The fleet solver: one small-lane and one large-lane solve at their size bounds
// (bench/fleet_size_bench: 32.4 + 36.0 MiB).
inline constexpr double kFleetSolverBytes = 72.0 * (1 << 20);
// Prometheus answers in flight: 16 queries x ~3.1 MiB (server/prometheus_client.h).
inline constexpr double kPrometheusBytes = 16 * 3.1 * (1 << 20);

struct MemoryBudgetTerm {
  std::string area;     // "HTTP connections"
  std::string formula;  // "(512 + 64) x 98 KiB (TLS)"
  double bytes = 0;
};

struct MemoryBudget {
  std::vector<MemoryBudgetTerm> terms;
  double total_bytes = 0;
};

MemoryBudget ComputeMemoryBudget(const DaemonOptions& options);

// The budget as a table, one term a line, and the total.
std::string FormatMemoryBudget(const MemoryBudget& budget);

// The container's memory limit in bytes (cgroup v2 memory.max, else v1
// memory.limit_in_bytes); nullopt when there is none or it cannot be read.
std::optional<double> ContainerMemoryLimitBytes();

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_MEMORY_BUDGET_H_

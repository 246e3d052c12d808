// gpufitd: flags, signals and exit codes around server::Daemon.
#include <sys/resource.h>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/daemon.h"
#include "server/grpc_logging.h"
#include "server/logging.h"
#include "server/memory_budget.h"
#include "server/signals.h"

namespace {

using gpufit::server::Daemon;
using gpufit::server::DaemonOptions;
using gpufit::server::Logger;

constexpr int kExitOk = 0;
constexpr int kExitInternalError = 1;
constexpr int kExitBadInput = 2;

// Serves until SIGTERM/SIGINT; the exit code.
int Serve(const DaemonOptions& options, Logger& logger) {
  try {
    Daemon daemon(options, &logger);
    if (const absl::Status s = daemon.Start(); !s.ok()) {
      logger.Error("startup failed", {{"error", std::string(s.message())}});
      return s.code() == absl::StatusCode::kInternal ? kExitInternalError : kExitBadInput;
    }
    gpufit::server::SignalThread signals([&daemon] { daemon.Reload(); },
                                         [&daemon, &logger](int signo) {
                                           logger.Info("signal received", {{"signal", signo}});
                                           daemon.Shutdown();
                                         });
    signals.Join();
  } catch (const std::exception& e) {
    logger.Error("internal error", {{"error", e.what()}});
    return kExitInternalError;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the mask and only the signal
  // thread receives them.
  gpufit::server::BlockServerSignals();
  // Debian's abseil is built without NDEBUG, which leaves absl::Mutex's deadlock detector on:
  // every lock gRPC takes then updates a global lock-order graph (GraphCycles), a few percent
  // of a gRPC call's CPU under a global lock. It is a debugging aid; the sanitizer tree and
  // tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Every open HTTP connection is a file descriptor; the soft limit (often 1024) would cap
  // them below --http-max-connections. The hard limit is what the container allows.
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }

  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto flags = gpufit::server::ParseDaemonFlags(args);
  if (!flags.ok()) {
    Logger(&std::cerr).Error("invalid flags", {{"error", std::string(flags.status().message())}});
    return kExitBadInput;
  }
  if (flags->help) {
    std::cout << gpufit::server::DaemonUsage();
    return kExitOk;
  }
  if (flags->memory_budget) {
    std::cout << gpufit::server::FormatMemoryBudget(
        gpufit::server::ComputeMemoryBudget(flags->options));
    return kExitOk;
  }
  if (flags->version) {
    std::cout << "gpufitd " << gpufit::server::DaemonVersion() << '\n';
    return kExitOk;
  }

  Logger logger(&std::cerr, flags->options.log_level);
  gpufit::server::RouteGrpcLogs(&logger);
  const int code = Serve(flags->options, logger);
  gpufit::server::RouteGrpcLogs(nullptr);
  return code;
}

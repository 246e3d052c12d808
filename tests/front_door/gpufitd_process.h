// The real gpufitd binary as a child process, for tests that must see what a cluster sees:
// whether the process survives, its resident and peak memory (/proc/PID/status VmRSS and
// VmHWM), its exit code and its log. Started on 127.0.0.1 with ports the kernel picks (read
// from the "serving" log line). Not thread-safe; one object per daemon.
#ifndef GPUFIT_TESTS_FRONT_DOOR_GPUFITD_PROCESS_H_
#define GPUFIT_TESTS_FRONT_DOOR_GPUFITD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gpufit::testing {

class GpufitdProcess {
 public:
  GpufitdProcess() = default;
  ~GpufitdProcess();  // SIGKILLs a daemon still running
  GpufitdProcess(const GpufitdProcess&) = delete;
  GpufitdProcess& operator=(const GpufitdProcess&) = delete;

  // Runs `binary` (build/gpufitd) with --grpc-address/--http-address on 127.0.0.1:0 and
  // `args`, its stderr into a log file, and waits (bounded) for its "serving" line. An error
  // if it exits first or never serves; ExitCode() then has its exit status.
  absl::Status Start(const std::string& binary, const std::vector<std::string>& args);

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }

  // True while the process runs (reaps it once it has exited).
  bool Alive();
  // Resident set now and its peak since start (or ResetPeakRss), bytes; 0 if unreadable.
  size_t RssBytes() const;
  size_t PeakRssBytes() const;
  // Resets the kernel's peak-RSS mark to the current RSS (/proc/PID/clear_refs, "5").
  void ResetPeakRss() const;

  void Signal(int signo) const;
  // Waits up to `bound` for the process to exit; its exit code (128 + signal if killed).
  std::optional<int> WaitExit(std::chrono::milliseconds bound);
  std::optional<int> exit_code() const { return exit_code_; }
  // Everything it logged so far.
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// The chart's container memory limit (helm/gpufit/values.yaml resources.limits.memory, e.g.
// "256Mi"), bytes: the budget gpufitd must stay inside under any input.
size_t ChartMemoryLimitBytes(const std::string& values_yaml_path);

// --- Raw sockets, for what well-behaved clients never send ---

// A TCP connection to 127.0.0.1:`port` (blocking, with `io_timeout` on each send/recv); -1 on
// failure.
int ConnectLoopback(int port, std::chrono::milliseconds io_timeout = std::chrono::seconds(10));
// Sends all of `bytes`; false if the peer closed or the timeout passed.
bool SendAll(int fd, const std::string& bytes);
// Reads until the peer closes, `max_bytes` arrive, or `bound` passes; what arrived.
std::string ReadUntilClose(int fd, std::chrono::milliseconds bound, size_t max_bytes = 1 << 20);
// The status code of the first HTTP response in `text` ("HTTP/1.1 431 ..."), 0 if none.
int HttpStatusOf(const std::string& text);
// Count of HTTP responses (status lines) in `text`; for answers whose bodies hold none.
int HttpResponseCount(const std::string& text);

// One GET/POST on a new connection with Connection: close; the response (empty on failure).
std::string HttpRequest(int port, const std::string& method, const std::string& path,
                        const std::string& body = "",
                        std::chrono::milliseconds bound = std::chrono::seconds(30));

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_FRONT_DOOR_GPUFITD_PROCESS_H_

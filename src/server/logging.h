// Structured logs: one JSON object per line on stderr (or any stream), e.g.
//   {"ts":"2026-11-25T10:00:00.123Z","level":"info","msg":"serving","grpc_address":"..."}
// `ts` is UTC with milliseconds; fields follow `msg` in the order given. Log collectors
// (Loki, Cloud Logging) parse this without configuration. Thread-safe: a line is written
// whole under a lock.
#ifndef GPUFIT_SERVER_LOGGING_H_
#define GPUFIT_SERVER_LOGGING_H_

#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace gpufit::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::optional<LogLevel> ParseLogLevel(std::string_view name);  // "debug", "info", ...
std::string_view LogLevelName(LogLevel level);

using LogFields = std::vector<std::pair<std::string, nlohmann::ordered_json>>;

class Logger {
 public:
  // Writes to `out` (not owned; std::cerr in gpufitd) lines at `min_level` and above.
  explicit Logger(std::ostream* out, LogLevel min_level = LogLevel::kInfo);

  void Log(LogLevel level, std::string_view msg, const LogFields& fields = {});
  void Debug(std::string_view msg, const LogFields& fields = {}) {
    Log(LogLevel::kDebug, msg, fields);
  }
  void Info(std::string_view msg, const LogFields& fields = {}) {
    Log(LogLevel::kInfo, msg, fields);
  }
  void Warn(std::string_view msg, const LogFields& fields = {}) {
    Log(LogLevel::kWarn, msg, fields);
  }
  void Error(std::string_view msg, const LogFields& fields = {}) {
    Log(LogLevel::kError, msg, fields);
  }

 private:
  std::ostream* out_;
  LogLevel min_level_;
  std::mutex mu_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_LOGGING_H_

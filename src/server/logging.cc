#include "server/logging.h"

#include <ostream>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gpufit::server {

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

Logger::Logger(std::ostream* out, LogLevel min_level) : out_(out), min_level_(min_level) {}

void Logger::Log(LogLevel level, std::string_view msg, const LogFields& fields) {
  if (level < min_level_) return;
  nlohmann::ordered_json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = std::string(LogLevelName(level));
  line["msg"] = std::string(msg);
  for (const auto& [key, value] : fields) line[key] = value;
  // `replace`: a message quoting a client's invalid UTF-8 must not throw.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> lock(mu_);
  *out_ << text << '\n';
  out_->flush();
}

}  // namespace gpufit::server

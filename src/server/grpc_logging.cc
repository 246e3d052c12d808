#include "server/grpc_logging.h"

#include <atomic>
#include <string>

#include "grpc/support/log.h"

namespace gpufit::server {
namespace {

std::atomic<Logger*> g_logger{nullptr};

void LogToLogger(gpr_log_func_args* args) {
  Logger* logger = g_logger.load();
  if (logger == nullptr || args == nullptr) return;
  LogLevel level = LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = LogLevel::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = LogLevel::kInfo;
  logger->Log(level, args->message != nullptr ? args->message : "",
              {{"source", "grpc"},
               {"file", args->file != nullptr ? args->file : ""},
               {"line", args->line}});
}

}  // namespace

void RouteGrpcLogs(Logger* logger) {
  g_logger.store(logger);
  gpr_set_log_function(&LogToLogger);
}

}  // namespace gpufit::server

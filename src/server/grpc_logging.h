// Routes gRPC's own log lines (gpr_log: handshake failures, bind errors, ...) into the JSON
// Logger, so that stderr stays one JSON object per line. Process-wide, like gpr_log itself.
#ifndef GPUFIT_SERVER_GRPC_LOGGING_H_
#define GPUFIT_SERVER_GRPC_LOGGING_H_

#include "server/logging.h"

namespace gpufit::server {

// From now on gRPC logs through `logger` ({"msg":..., "source":"grpc", "file", "line"});
// nullptr drops them. Call with nullptr before `logger` is destroyed.
void RouteGrpcLogs(Logger* logger);

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_GRPC_LOGGING_H_

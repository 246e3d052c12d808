// The one mapping from absl::Status (the core's and config's errors) to what a transport
// returns: a grpc::Status with the same code and message, or an HTTP status code. Codes are
// chosen where the error is made, by what the caller should do; this only translates.
#ifndef GPUFIT_SERVER_STATUS_MAPPING_H_
#define GPUFIT_SERVER_STATUS_MAPPING_H_

#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace gpufit::server {

// Same code (absl and gRPC both use the google.rpc.Code numbers) and message, the message
// cut to 1 KiB (it may quote a client's oversized input).
grpc::Status ToGrpcStatus(const absl::Status& status);

// HTTP status per google.rpc.Code's documented mapping (google/rpc/code.proto): 200, 400
// INVALID_ARGUMENT/FAILED_PRECONDITION/OUT_OF_RANGE, 401, 403, 404, 409 ALREADY_EXISTS/ABORTED,
// 429 RESOURCE_EXHAUSTED, 499 CANCELLED, 501, 503, 504, and 500 for the rest.
int ToHttpStatus(const absl::Status& status);

// "INVALID_ARGUMENT"; the gRPC code name used as a metric label.
std::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_STATUS_MAPPING_H_

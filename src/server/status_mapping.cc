#include "server/status_mapping.h"

#include <string>

#include "metrics/grpc_probe.h"

namespace gpufit::server {
namespace {

// Error messages quote what the client sent ("unknown model '...'"); a 500 kB name quoted
// back would exceed the client's metadata limit (8 KiB by default in gRPC), which fails
// the call with an unrelated RESOURCE_EXHAUSTED on the client side instead of the error.
constexpr size_t kMaxMessageBytes = 1024;

std::string Truncated(std::string_view message) {
  if (message.size() <= kMaxMessageBytes) return std::string(message);
  size_t cut = kMaxMessageBytes;
  // Not inside a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return std::string(message.substr(0, cut)) + "... (truncated)";
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  // absl::StatusCode and grpc::StatusCode are both google.rpc.Code (0..16).
  const grpc::StatusCode grpc_code =
      code >= grpc::StatusCode::OK && code <= grpc::StatusCode::UNAUTHENTICATED
          ? static_cast<grpc::StatusCode>(code)
          : grpc::StatusCode::UNKNOWN;
  return grpc::Status(
      grpc_code, Truncated(std::string_view(status.message().data(), status.message().size())));
}

int ToHttpStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string_view GrpcCodeName(grpc::StatusCode code) {
  return metrics::GrpcCodeName(static_cast<int>(code));
}

}  // namespace gpufit::server

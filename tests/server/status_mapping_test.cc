#include "server/status_mapping.h"

#include "gtest/gtest.h"

namespace gpufit::server {
namespace {

struct Row {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
  int http;
  const char* name;
};

TEST(StatusMappingTest, Table) {
  const Row rows[] = {
      {absl::StatusCode::kOk, grpc::StatusCode::OK, 200, "OK"},
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED, 499, "CANCELLED"},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN, 500, "UNKNOWN"},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT, 400,
       "INVALID_ARGUMENT"},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED, 504,
       "DEADLINE_EXCEEDED"},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND, 404, "NOT_FOUND"},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS, 409, "ALREADY_EXISTS"},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED, 403,
       "PERMISSION_DENIED"},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED, 429,
       "RESOURCE_EXHAUSTED"},
      {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION, 400,
       "FAILED_PRECONDITION"},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED, 409, "ABORTED"},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE, 400, "OUT_OF_RANGE"},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED, 501, "UNIMPLEMENTED"},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL, 500, "INTERNAL"},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE, 503, "UNAVAILABLE"},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS, 500, "DATA_LOSS"},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED, 401,
       "UNAUTHENTICATED"},
  };
  for (const Row& row : rows) {
    const absl::Status status(row.absl_code,
                              row.absl_code == absl::StatusCode::kOk ? "" : "x.y: m");
    const grpc::Status g = ToGrpcStatus(status);
    EXPECT_EQ(g.error_code(), row.grpc_code) << row.name;
    EXPECT_EQ(g.error_message(), status.message()) << row.name;
    EXPECT_EQ(ToHttpStatus(status), row.http) << row.name;
    EXPECT_EQ(GrpcCodeName(row.grpc_code), row.name);
  }
}

TEST(StatusMappingTest, OutOfRangeCodeIsUnknown) {
  const absl::Status odd(static_cast<absl::StatusCode>(42), "odd");
  EXPECT_EQ(ToGrpcStatus(odd).error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(ToHttpStatus(odd), 500);
}

}  // namespace
}  // namespace gpufit::server

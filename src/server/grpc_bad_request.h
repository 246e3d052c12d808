// gRPC answers a request it cannot deserialize (most often a proto3 string that is not
// UTF-8, which C++ clients can still send) with INTERNAL (sync methods) or UNIMPLEMENTED
// (callback methods) and an empty message, before any
// gpufit code runs: to the client that reads as a server bug. This server interceptor turns
// exactly that case into INVALID_ARGUMENT naming the method and the likely cause.
#ifndef GPUFIT_SERVER_GRPC_BAD_REQUEST_H_
#define GPUFIT_SERVER_GRPC_BAD_REQUEST_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace gpufit::server {

// For grpc::ServerBuilder::experimental().SetInterceptorCreators().
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> BadRequestInterceptors();

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_GRPC_BAD_REQUEST_H_

// Raw gRPC for hostile tests: a gzip bomb (a PlanFleetRequest that inflates to any size,
// made without ever holding the inflated bytes) and a client that sends already-compressed
// bytes through gRPC's C core (the C++ API only compresses what it serializes).
#ifndef GPUFIT_TESTS_SERVER_GRPC_RAW_CLIENT_H_
#define GPUFIT_TESTS_SERVER_GRPC_RAW_CLIENT_H_

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "grpc/compression.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"
#include "grpc/support/alloc.h"
#include "gtest/gtest.h"

namespace gpufit::testing {

inline void AppendVarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// gzip of a PlanFleetRequest whose fleet name is `inflated_bytes` of 'a': ~1 KB of gzip per
// MB inflated, made in chunks so that the test never holds the inflated bytes.
inline std::string GzipBomb(uint64_t inflated_bytes) {
  std::string head;
  std::string inner;  // FleetRequest: field 1 (name), length-delimited
  inner.push_back(0x0a);
  AppendVarint(inflated_bytes, inner);
  head.push_back(0x0a);  // PlanFleetRequest: field 1 (fleet), length-delimited
  AppendVarint(inner.size() + inflated_bytes, head);
  head += inner;
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_RLE), Z_OK);  // gzip, runs
  std::string out;
  std::vector<unsigned char> buffer(1 << 16);
  auto pump = [&](const char* data, size_t size, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(size);
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, flush);
      out.append(reinterpret_cast<char*>(buffer.data()), buffer.size() - z.avail_out);
    } while (z.avail_out == 0);
  };
  pump(head.data(), head.size(), Z_NO_FLUSH);
  const std::string chunk(1 << 20, 'a');
  for (uint64_t left = inflated_bytes; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
    left -= n;
    pump(chunk.data(), n, left == 0 ? Z_FINISH : Z_NO_FLUSH);
  }
  deflateEnd(&z);
  return out;
}

struct RawResult {
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  std::string details;
};

// Sends `gzip` as an already-compressed PlanFleet message (grpc-encoding: gzip) through gRPC's
// C core, which the C++ API is built on: the C++ API only compresses what it serializes,
// which would need the inflated gigabyte in the test's memory.
inline RawResult SendCompressed(const std::string& target, const std::string& gzip) {
  grpc_init();
  RawResult result;
  grpc_channel_credentials* credentials = grpc_insecure_credentials_create();
  grpc_channel* channel = grpc_channel_create(target.c_str(), credentials, nullptr);
  grpc_channel_credentials_release(credentials);
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  const gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(60, GPR_TIMESPAN));
  grpc_call* call = grpc_channel_create_call(
      channel, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
      grpc_slice_from_static_string("/gpufit.v1.PlacementService/PlanFleet"), nullptr, deadline,
      nullptr);
  // What ClientContext::set_compression_algorithm(GRPC_COMPRESS_GZIP) sends.
  grpc_metadata encoding;
  std::memset(&encoding, 0, sizeof(encoding));
  encoding.key = grpc_slice_from_static_string(GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY);
  encoding.value = grpc_slice_from_static_string("gzip");
  grpc_slice payload = grpc_slice_from_copied_buffer(gzip.data(), gzip.size());
  grpc_byte_buffer* message =
      grpc_raw_compressed_byte_buffer_create(&payload, 1, GRPC_COMPRESS_GZIP);
  grpc_slice_unref(payload);
  grpc_metadata_array initial, trailing;
  grpc_metadata_array_init(&initial);
  grpc_metadata_array_init(&trailing);
  grpc_byte_buffer* reply = nullptr;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6];
  std::memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = 1;
  ops[0].data.send_initial_metadata.metadata = &encoding;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = message;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &reply;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
  ops[5].data.recv_status_on_client.status = &result.code;
  ops[5].data.recv_status_on_client.status_details = &details;
  void* tag = &result;
  EXPECT_EQ(grpc_call_start_batch(call, ops, 6, tag, nullptr), GRPC_CALL_OK);
  const grpc_event event = grpc_completion_queue_next(
      cq, gpr_time_add(deadline, gpr_time_from_seconds(5, GPR_TIMESPAN)), nullptr);
  EXPECT_EQ(event.type, GRPC_OP_COMPLETE);
  EXPECT_EQ(event.tag, tag);
  char* text = grpc_slice_to_c_string(details);
  result.details = text;
  gpr_free(text);
  grpc_slice_unref(details);
  if (reply != nullptr) grpc_byte_buffer_destroy(reply);
  grpc_byte_buffer_destroy(message);
  grpc_metadata_array_destroy(&initial);
  grpc_metadata_array_destroy(&trailing);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  grpc_channel_destroy(channel);
  grpc_shutdown();
  return result;
}

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_SERVER_GRPC_RAW_CLIENT_H_

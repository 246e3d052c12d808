// grpc_load: closed-loop load generator for a running gpufitd. It measures the throughput and
// latency of PlacementService/Place and, in the same run against the same server, of the no-op
// baseline grpc.health.v1.Health/Check, and reports their ratio: what a placement decision
// costs on top of gRPC's own per-call overhead, a figure that survives a slower or busier
// machine better than either absolute number.
//
// Both methods go through the same client path (grpc::GenericStub with pre-serialized request
// bytes on a CompletionQueue), so only the server's work differs. Each OK answer is checked to
// be byte-identical to the first one, which is parsed and validated (decisions are
// deterministic). Phases alternate (no-op, Place, no-op, Place, ...) so that drift on a shared
// machine hits both. Not a test: it asserts nothing about time; bench/run_grpc_load.sh starts
// a gpufitd on free loopback ports and runs it.
//
// --duration-seconds S switches to soak mode (bench/soak.sh): after the warm-up, Place only,
// C calls kept in flight for S seconds, then one "RESULT" line (calls, failures, p50/p99)
// for scripts. Exit status 1 on any failed or wrong answer in either mode.
//
// Usage: grpc_load --target 127.0.0.1:PORT [--workload FILE] [--requests N] [--concurrency C]
//                  [--channels K] [--rounds R] [--warmup W] [--deadline-ms D]
//                  [--duration-seconds S] [--view full|recommendation]
//
// --view recommendation asks Place for DECISION_VIEW_RECOMMENDATION (the lean answer that
// automation uses: the recommendation without the ranked options); default full.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/proto_conversion.h"
#include "config/workload_loader.h"
#include "gpufit/v1/placement_service.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace gpufit::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kPlaceMethod[] = "/gpufit.v1.PlacementService/Place";
constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";
// grpc.health.v1.HealthCheckResponse{status: SERVING}: field 1, varint 1.
constexpr char kHealthServing[] = "\x08\x01";

struct Options {
  std::string target;
  std::string workload_file = GPUFIT_SOURCE_DIR "/examples/chat-llama3-8b.yaml";
  int requests = 10000;  // per method per round
  int concurrency = 32;  // calls in flight
  int channels = 1;      // HTTP/2 connections the calls are spread over
  int rounds = 3;
  int warmup = 1000;  // per method, before the first round; not reported
  int deadline_ms = 10000;
  int duration_seconds = 0;  // > 0: soak mode (Place for this long instead of rounds)
  gpufit::v1::DecisionView view = gpufit::v1::DECISION_VIEW_FULL;
};

constexpr char kUsage[] =
    "Usage: grpc_load --target HOST:PORT [--workload FILE] [--requests N] [--concurrency C]\n"
    "                 [--channels K] [--rounds R] [--warmup W] [--deadline-ms D]\n"
    "                 [--duration-seconds S] [--view full|recommendation]\n";

bool ParseFlags(int argc, char** argv, Options* options) {
  std::map<std::string, int*> ints = {{"--requests", &options->requests},
                                      {"--concurrency", &options->concurrency},
                                      {"--channels", &options->channels},
                                      {"--rounds", &options->rounds},
                                      {"--warmup", &options->warmup},
                                      {"--deadline-ms", &options->deadline_ms},
                                      {"--duration-seconds", &options->duration_seconds}};
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    const size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::cerr << "grpc_load: " << flag << ": missing value\n" << kUsage;
      return false;
    }
    if (flag == "--target") {
      options->target = value;
    } else if (flag == "--workload") {
      options->workload_file = value;
    } else if (flag == "--view") {
      if (value == "full") {
        options->view = gpufit::v1::DECISION_VIEW_FULL;
      } else if (value == "recommendation") {
        options->view = gpufit::v1::DECISION_VIEW_RECOMMENDATION;
      } else {
        std::cerr << "grpc_load: --view: full or recommendation, not '" << value << "'\n";
        return false;
      }
    } else if (auto it = ints.find(flag); it != ints.end()) {
      const bool zero_ok = flag == "--warmup" || flag == "--duration-seconds";
      if (!absl::SimpleAtoi(value, it->second) || *it->second < (zero_ok ? 0 : 1)) {
        std::cerr << "grpc_load: " << flag << ": not a positive integer: '" << value << "'\n";
        return false;
      }
    } else {
      std::cerr << "grpc_load: unknown flag " << flag << "\n" << kUsage;
      return false;
    }
  }
  if (options->target.empty()) {
    std::cerr << "grpc_load: --target is required\n" << kUsage;
    return false;
  }
  return true;
}

std::string ToBytes(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) return {};
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

grpc::ByteBuffer FromBytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// One method's calls over all measured rounds.
struct Result {
  int64_t calls = 0;
  int64_t errors = 0;
  int64_t mismatches = 0;  // OK answers that differ from the reference answer
  double seconds = 0;      // wall time of the measured phases
  std::vector<double> latencies_us;
  std::map<std::string, int64_t> error_codes;
};

// Runs `count` unary calls of `method` with `concurrency` in flight, round-robin over
// `stubs`, on one CompletionQueue; with an `until` time, issues calls until then instead
// (`count` is ignored). Adds to `result` unless `record` is false (warm-up).
void RunPhase(std::vector<std::unique_ptr<grpc::GenericStub>>& stubs, const std::string& method,
              const grpc::ByteBuffer& request, const std::string& expected, int64_t count,
              int concurrency, int deadline_ms, bool record, Result* result,
              std::optional<Clock::time_point> until = std::nullopt) {
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer response;
    grpc::Status status;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
    Clock::time_point start;
  };
  grpc::CompletionQueue cq;
  int64_t issued = 0;
  int64_t done = 0;
  // Soak mode: checking the clock once per completion costs nanoseconds next to a call.
  auto more = [&]() { return until ? Clock::now() < *until : issued < count; };
  auto issue = [&]() {
    auto* call = new Call;
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(deadline_ms));
    call->start = Clock::now();
    call->reader =
        stubs[issued % stubs.size()]->PrepareUnaryCall(&call->context, method, request, &cq);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
    ++issued;
  };
  if (record && !until) result->latencies_us.reserve(result->latencies_us.size() + count);
  const Clock::time_point phase_start = Clock::now();
  while (more() && issued - done < concurrency) issue();
  void* tag = nullptr;
  bool ok = false;
  while (done < issued && cq.Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - call->start).count();
    ++done;
    if (record) {
      ++result->calls;
      if (!call->status.ok()) {
        ++result->errors;
        ++result->error_codes[absl::StrCat(call->status.error_code(), " ",
                                           call->status.error_message())];
      } else {
        result->latencies_us.push_back(us);
        if (ToBytes(call->response) != expected) ++result->mismatches;
      }
    }
    if (more()) issue();
  }
  if (record) result->seconds += std::chrono::duration<double>(Clock::now() - phase_start).count();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

// The first answer of `method`, checked: it is the reference the load phases compare to.
absl::StatusOr<std::string> ReferenceAnswer(grpc::GenericStub& stub, const std::string& method,
                                            const grpc::ByteBuffer& request, int deadline_ms) {
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  grpc::ByteBuffer response;
  grpc::Status status;
  auto reader = stub.PrepareUnaryCall(&context, method, request, &cq);
  reader->StartCall();
  reader->Finish(&response, &status, &context);
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat(method, ": ", status.error_code(), " ", status.error_message()));
  }
  return ToBytes(response);
}

int Run(const Options& options) {
  absl::StatusOr<core::Workload> workload = config::LoadWorkloadFile(options.workload_file);
  if (!workload.ok()) {
    std::cerr << "grpc_load: " << workload.status().message() << "\n";
    return 2;
  }
  gpufit::v1::PlaceRequest place_request;
  *place_request.mutable_workload() = api::ToProto(*workload);
  place_request.set_view(options.view);
  const grpc::ByteBuffer place_bytes = FromBytes(place_request.SerializeAsString());
  const grpc::ByteBuffer health_bytes = FromBytes(std::string());  // HealthCheckRequest{}

  // Distinct channel args keep the channels from sharing one subchannel (connection).
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int i = 0; i < options.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("gpufit.grpc_load.channel", i);
    args.SetMaxReceiveMessageSize(64 << 20);
    auto channel =
        grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::cerr << "grpc_load: cannot connect to " << options.target << "\n";
      return 1;
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }

  absl::StatusOr<std::string> health_reference =
      ReferenceAnswer(*stubs[0], kHealthMethod, health_bytes, options.deadline_ms);
  absl::StatusOr<std::string> place_reference =
      ReferenceAnswer(*stubs[0], kPlaceMethod, place_bytes, options.deadline_ms);
  if (!health_reference.ok() || !place_reference.ok()) {
    std::cerr << "grpc_load: reference call failed: "
              << (health_reference.ok() ? place_reference.status() : health_reference.status())
              << "\n";
    return 1;
  }
  if (*health_reference != std::string(kHealthServing, 2)) {
    std::cerr << "grpc_load: Health/Check(\"\") is not SERVING\n";
    return 1;
  }
  gpufit::v1::PlaceResponse place_response;
  if (!place_response.ParseFromString(*place_reference) ||
      !place_response.decision().has_recommendation()) {
    std::cerr << "grpc_load: Place answered without a recommendation\n";
    return 1;
  }
  const gpufit::v1::Option& rec = place_response.decision().recommendation();

  std::cout << absl::StrFormat(
      "gpufitd at %s; workload %s -> %s x%d, %d replica(s), %d options sent (view %s, %d "
      "bytes); catalog %s\n",
      options.target, place_response.decision().workload_name(), rec.accelerator(),
      rec.gpus_per_replica(), rec.replicas(), place_response.decision().options_size(),
      gpufit::v1::DecisionView_Name(options.view), place_response.ByteSizeLong(),
      place_response.decision().catalog_version());
  if (options.duration_seconds > 0) {
    std::cout << absl::StrFormat("Place for %d s, %d in flight over %d channel(s), %d warm-up\n\n",
                                 options.duration_seconds, options.concurrency, options.channels,
                                 options.warmup);
  } else {
    std::cout << absl::StrFormat(
        "%d requests per method per round, %d round(s), %d in flight over %d channel(s), "
        "%d warm-up\n\n",
        options.requests, options.rounds, options.concurrency, options.channels, options.warmup);
  }

  auto header = [] {
    std::cout << absl::StrFormat("%-28s %9s %7s %12s %9s %9s %9s %9s\n", "method", "calls",
                                 "errors", "calls/s", "p50 us", "p90 us", "p99 us", "max us");
  };
  auto row = [](const char* name, Result& r) {
    std::sort(r.latencies_us.begin(), r.latencies_us.end());
    const double rate = r.seconds > 0 ? (r.calls - r.errors) / r.seconds : 0;
    std::cout << absl::StrFormat("%-28s %9d %7d %12.0f %9.0f %9.0f %9.0f %9.0f\n", name, r.calls,
                                 r.errors + r.mismatches, rate, Percentile(r.latencies_us, 0.50),
                                 Percentile(r.latencies_us, 0.90), Percentile(r.latencies_us, 0.99),
                                 r.latencies_us.empty() ? 0.0 : r.latencies_us.back());
    for (const auto& [code, n] : r.error_codes) {
      std::cout << absl::StrFormat("    error %s: %d\n", code, n);
    }
    if (r.mismatches) std::cout << absl::StrFormat("    wrong answers: %d\n", r.mismatches);
    return rate;
  };

  Result noop;
  Result place;
  if (options.duration_seconds > 0) {
    if (options.warmup > 0) {
      RunPhase(stubs, kPlaceMethod, place_bytes, *place_reference, options.warmup,
               options.concurrency, options.deadline_ms, false, &place);
    }
    RunPhase(stubs, kPlaceMethod, place_bytes, *place_reference, 0, options.concurrency,
             options.deadline_ms, true, &place,
             Clock::now() + std::chrono::seconds(options.duration_seconds));
    header();
    const double rate = row("PlacementService/Place", place);
    std::cout << absl::StrFormat(
        "RESULT grpc calls=%d failures=%d calls_per_s=%.0f p50_us=%.0f p99_us=%.0f\n", place.calls,
        place.errors + place.mismatches, rate, Percentile(place.latencies_us, 0.50),
        Percentile(place.latencies_us, 0.99));
    return place.errors + place.mismatches == 0 ? 0 : 1;
  }
  if (options.warmup > 0) {
    RunPhase(stubs, kHealthMethod, health_bytes, *health_reference, options.warmup,
             options.concurrency, options.deadline_ms, false, &noop);
    RunPhase(stubs, kPlaceMethod, place_bytes, *place_reference, options.warmup,
             options.concurrency, options.deadline_ms, false, &place);
  }
  for (int round = 0; round < options.rounds; ++round) {
    RunPhase(stubs, kHealthMethod, health_bytes, *health_reference, options.requests,
             options.concurrency, options.deadline_ms, true, &noop);
    RunPhase(stubs, kPlaceMethod, place_bytes, *place_reference, options.requests,
             options.concurrency, options.deadline_ms, true, &place);
  }

  header();
  const double noop_rate = row("Health/Check (no-op)", noop);
  const double place_rate = row("PlacementService/Place", place);
  std::cout << absl::StrFormat(
      "\nPlace / no-op throughput: %.3f   (p50 latency Place / no-op: %.2f)\n",
      noop_rate > 0 ? place_rate / noop_rate : 0.0,
      Percentile(noop.latencies_us, 0.5) > 0
          ? Percentile(place.latencies_us, 0.5) / Percentile(noop.latencies_us, 0.5)
          : 0.0);
  return (noop.errors + noop.mismatches + place.errors + place.mismatches) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace gpufit::bench

int main(int argc, char** argv) {
  gpufit::bench::Options options;
  if (!gpufit::bench::ParseFlags(argc, argv, &options)) return 2;
  return gpufit::bench::Run(options);
}

// KEDA trigger metadata (server/keda_metadata.h): every key, its defaults, and errors that
// name the key; the per-replica target against `gpufit predict`'s max_concurrency.
#include "server/keda_metadata.h"

#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "config/service_config.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using Metadata = std::map<std::string, std::string>;

config::ServiceConfig Config() {
  absl::StatusOr<config::ServiceConfig> c = config::ParseServiceConfig(R"(
prometheus:
  servers: [http://127.0.0.1:9090, https://thanos.example/prometheus]
workloads:
  - name: chat
    model: llama-3-8b
    precision: fp8
    traffic: {concurrency: 50, input_tokens: 512, output_tokens: 256, max_context_tokens: 8192}
    slo: {ttft_ms: 2000, tpot_ms: 100}
  - name: idle
    model: llama-3-8b
    traffic: {tokens_per_second: 100}
)",
                                                                       "gpufitd.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

Metadata Inline() {
  return {{"model", "llama-3-8b"},
          {"precision", "fp8"},
          {"inputTokens", "512"},
          {"outputTokens", "256"},
          {"maxContextTokens", "8192"},
          {"ttftMs", "2000"},
          {"tpotMs", "100"},
          {"accelerator", "l4"},
          {"serverAddress", "http://127.0.0.1:9090"},
          {"query", "sum(vllm:num_requests_running)"}};
}

TEST(KedaMetadataTest, ConfiguredWorkloadWithDefaults) {
  const config::ServiceConfig config = Config();
  absl::StatusOr<ScalerTarget> t = ParseScalerMetadata(
      {{"workload", "chat"}, {"accelerator", "l4"}, {"scalerAddress", "gpufit:50051"}}, config);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->workload_name, "chat");
  EXPECT_EQ(t->metric_name, "gpufit-chat-concurrency");
  EXPECT_EQ(t->accelerator, "l4");
  EXPECT_EQ(t->gpus, 1);
  EXPECT_EQ(t->activation_threshold, 0);
  EXPECT_TRUE(t->server_address.empty());
  EXPECT_EQ(t->configured_load, 50);  // no query: the configured traffic.concurrency
}

TEST(KedaMetadataTest, InlineWorkloadReadsEveryKey) {
  Metadata m = Inline();
  m["gpus"] = "2";
  m["activationThreshold"] = "0.5";
  m["accelerator"] = "a100-80gb";
  absl::StatusOr<ScalerTarget> t = ParseScalerMetadata(m, Config());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->workload_name, "");
  EXPECT_EQ(t->workload.model, "llama-3-8b");
  EXPECT_EQ(t->workload.precision, core::Precision::kFp8);
  EXPECT_EQ(t->workload.traffic.input_tokens, 512);
  EXPECT_EQ(t->workload.traffic.output_tokens, 256);
  EXPECT_EQ(t->workload.traffic.max_context_tokens, 8192);
  EXPECT_EQ(t->workload.slo.ttft_ms, 2000);
  EXPECT_EQ(t->workload.slo.tpot_ms, 100);
  EXPECT_EQ(t->gpus, 2);
  EXPECT_EQ(t->activation_threshold, 0.5);
  EXPECT_EQ(t->server_address, "http://127.0.0.1:9090");
  EXPECT_EQ(t->query, "sum(vllm:num_requests_running)");
  EXPECT_EQ(t->metric_name, "gpufit-llama-3-8b-concurrency");
}

struct BadCase {
  std::string key;
  std::string value;  // "" = remove the key
  std::string message;
};

// Readable test names in CTest (gtest would print the struct's bytes).
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.key << "=" << c.value; }

class KedaMetadataErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(KedaMetadataErrorTest, NamesTheKey) {
  Metadata m = Inline();
  if (GetParam().value.empty()) {
    m.erase(GetParam().key);
  } else {
    m[GetParam().key] = GetParam().value;
  }
  absl::StatusOr<ScalerTarget> t = ParseScalerMetadata(m, Config());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), StartsWith(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Keys, KedaMetadataErrorTest,
    ::testing::Values(
        BadCase{"tpotMs", "fast", "scalerMetadata.tpotMs: must be a number > 0; got 'fast'"},
        BadCase{"tpotMs", "0", "scalerMetadata.tpotMs: must be a number > 0"},
        BadCase{"ttftMs", "-5", "scalerMetadata.ttftMs: must be a number > 0"},
        BadCase{"ttftMs", "nan", "scalerMetadata.ttftMs: must be a number > 0"},
        BadCase{"inputTokens", "1.5", "scalerMetadata.inputTokens: must be an integer >= 1"},
        BadCase{"outputTokens", "0", "scalerMetadata.outputTokens: must be an integer >= 1"},
        BadCase{"maxContextTokens", "x", "scalerMetadata.maxContextTokens: must be an integer"},
        BadCase{"precision", "fp3", "scalerMetadata.precision: unknown precision; got 'fp3'"},
        BadCase{"gpus", "0", "scalerMetadata.gpus: must be an integer >= 1; got '0'"},
        BadCase{"activationThreshold", "-1",
                "scalerMetadata.activationThreshold: must be a number >= 0"},
        BadCase{"accelerator", "", "scalerMetadata.accelerator: required"},
        BadCase{"accelerator", "tpu-v5", "scalerMetadata.accelerator: unknown accelerator"},
        BadCase{"serverAddress", "prometheus:9090", "scalerMetadata.serverAddress: must be a"},
        BadCase{"serverAddress", "http://127.0.0.1:9091",
                "scalerMetadata.serverAddress: 'http://127.0.0.1:9091' is not a Prometheus "
                "server gpufitd may query (prometheus.servers in its config: "
                "http://127.0.0.1:9090, https://thanos.example/prometheus)"},
        BadCase{"serverAddress", "http://127.0.0.1:9090@169.254.169.254",
                "scalerMetadata.serverAddress: must not carry userinfo"},
        BadCase{"serverAddress", "http://127.0.0.1:9090/../admin",
                "scalerMetadata.serverAddress: must be a Prometheus URL"},
        BadCase{"query", std::string(16 * 1024 + 1, 'q'),
                "scalerMetadata.query: longer than 16384 bytes"},
        BadCase{"query", "", "scalerMetadata.query: required with"},
        BadCase{"model", "", "scalerMetadata.workload: required"},
        BadCase{"model", "llama-9", "scalerMetadata.model: unknown model"},
        BadCase{"workload", "chat",
                "scalerMetadata.model: not allowed with scalerMetadata.workload"},
        BadCase{"tpotMS", "5", "scalerMetadata.tpotMS: unknown key"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name = info.param.key + "_" + std::to_string(info.index);
      return name;
    });

// serverAddress names a server of prometheus.servers; what gpufitd dials is the config's text.
TEST(KedaMetadataTest, ServerAddressIsOneOfTheConfiguredServers) {
  Metadata m = Inline();
  for (const auto& [given, dialled] : std::vector<std::pair<std::string, std::string>>{
           {"http://127.0.0.1:9090", "http://127.0.0.1:9090"},
           {"HTTP://127.0.0.1:9090/", "http://127.0.0.1:9090"},
           {"https://THANOS.example:443/prometheus/", "https://thanos.example/prometheus"}}) {
    m["serverAddress"] = given;
    absl::StatusOr<ScalerTarget> t = ParseScalerMetadata(m, Config());
    ASSERT_TRUE(t.ok()) << given << ": " << t.status();
    EXPECT_EQ(t->server_address, dialled) << given;
  }
  // Omitted: the first configured server.
  m.erase("serverAddress");
  absl::StatusOr<ScalerTarget> t = ParseScalerMetadata(m, Config());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->server_address, "http://127.0.0.1:9090");
  // A path prefix, a port or a scheme of its own is another server.
  for (const std::string other :
       {"http://127.0.0.1:9090/prometheus", "https://127.0.0.1:9090", "http://127.0.0.1",
        "https://thanos.example/prometheus/x", "https://thanos.example", "http://localhost:9090"}) {
    m["serverAddress"] = other;
    t = ParseScalerMetadata(m, Config());
    ASSERT_FALSE(t.ok()) << other;
    EXPECT_THAT(std::string(t.status().message()),
                StartsWith("scalerMetadata.serverAddress: '" + other + "' is not a Prometheus"));
  }
}

TEST(KedaMetadataTest, WithoutConfiguredServersThereIsNoLiveLoad) {
  absl::StatusOr<config::ServiceConfig> config = config::ParseServiceConfig("{}", "gpufitd.yaml");
  ASSERT_TRUE(config.ok());
  Metadata m = Inline();
  absl::StatusOr<ScalerTarget> t = ParseScalerMetadata(m, *config);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            "scalerMetadata.serverAddress: 'http://127.0.0.1:9090' is not a Prometheus server "
            "gpufitd may query: its config lists none (add the server to prometheus.servers)");
  m.erase("serverAddress");
  t = ParseScalerMetadata(m, *config);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()),
              StartsWith("scalerMetadata.serverAddress: required with scalerMetadata.query: "
                         "gpufitd's config lists no Prometheus server"));
}

TEST(KedaMetadataTest, UnknownWorkloadListsTheConfiguredOnes) {
  absl::StatusOr<ScalerTarget> t =
      ParseScalerMetadata({{"workload", "nope"}, {"accelerator", "l4"}}, Config());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()),
              StartsWith("scalerMetadata.workload: not a workload in gpufitd's config (chat, "
                         "idle); got 'nope'"));
}

TEST(KedaMetadataTest, QueryNeededWithoutConfiguredConcurrency) {
  absl::StatusOr<ScalerTarget> t =
      ParseScalerMetadata({{"workload", "idle"}, {"accelerator", "l4"}}, Config());
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), StartsWith("scalerMetadata.query: required"));
}

TEST(KedaMetadataTest, PerReplicaTargetIsPredictMaxConcurrency) {
  const config::ServiceConfig config = Config();
  for (const std::string accelerator : {"l4", "a100-80gb", "a100-80gb/3g.40gb"}) {
    absl::StatusOr<double> target = PerReplicaTarget(config.workloads[0], accelerator, 1, config);
    ASSERT_TRUE(target.ok()) << accelerator << ": " << target.status();
    absl::StatusOr<core::ResolvedWorkload> r =
        core::ResolveWorkload(config.workloads[0], *config.catalog);
    ASSERT_TRUE(r.ok());
    absl::StatusOr<core::Option> option = core::PredictOption(*r, *config.catalog, accelerator, 1);
    ASSERT_TRUE(option.ok());
    EXPECT_EQ(*target, option->prediction.max_concurrency) << accelerator;
    EXPECT_GE(*target, 1);
  }
  // The A100 serves more per replica than the L4: the HPA sizes each Deployment by its own.
  EXPECT_GT(*PerReplicaTarget(config.workloads[0], "a100-80gb", 1, config),
            *PerReplicaTarget(config.workloads[0], "l4", 1, config));
}

TEST(KedaMetadataTest, PerReplicaTargetRefusesAnAcceleratorThatCannotServe) {
  config::ServiceConfig config = Config();
  core::Workload big;
  big.name = "big";
  big.model = "llama-3-70b";
  absl::StatusOr<double> target = PerReplicaTarget(big, "l4", 1, config);
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(target.status().message()), HasSubstr("accelerator: 'l4'"));
}

TEST(KedaMetadataTest, MetricNameIsDnsSafe) {
  EXPECT_EQ(ScalerMetricName("Chat_Llama.3"), "gpufit-chat-llama-3-concurrency");
}

}  // namespace
}  // namespace gpufit::server

#include "config/service_config.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config/catalog_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<ServiceConfig> c = ParseServiceConfig(yaml, "d.yaml");
  EXPECT_FALSE(c.ok()) << "parsed unexpectedly:\n" << yaml;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(ServiceConfigTest, DefaultIsTheCompiledInCatalog) {
  const ServiceConfig c = DefaultServiceConfig();
  EXPECT_EQ(c.catalog, DefaultCatalog());
  EXPECT_EQ(c.version, DefaultCatalog()->version());
  EXPECT_TRUE(c.workloads.empty());
}

TEST(ServiceConfigTest, OverlayAndWorkloads) {
  absl::StatusOr<ServiceConfig> c = ParseServiceConfig(R"(
version: "prod-1"
prices: {l4: 0.9}
workloads:
  - name: chat
    model: llama-3-8b
    traffic: {concurrency: 50}
  - name: tenant
    model: mistral-7b
    precision: int4
    traffic: {concurrency: 4}
    accelerators: ["a100-80gb/*"]
)",
                                                       "d.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->version, StartsWith("prod-1+"));
  EXPECT_EQ(c->version, c->catalog->version());
  EXPECT_DOUBLE_EQ(c->catalog->FindAccelerator("l4")->price_usd_per_hour, 0.9);
  ASSERT_EQ(c->workloads.size(), 2u);
  EXPECT_EQ(c->workloads[0].name, "chat");
  EXPECT_EQ(c->workloads[1].accelerators.size(), 1u);
}

TEST(ServiceConfigTest, CatalogOnlyFileIsValid) {
  absl::StatusOr<ServiceConfig> c = ParseServiceConfig("prices: {l4: 0.9}\n", "d.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->workloads.empty());
}

TEST(ServiceConfigTest, CatalogFilesStillRejectWorkloads) {
  absl::StatusOr<std::shared_ptr<const core::Catalog>> c =
      LoadCatalogOverlay("workloads: []\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "c.yaml:1: workloads: unknown field");
}

TEST(ServiceConfigTest, ErrorsNameFileLineAndFieldPath) {
  EXPECT_EQ(ErrorOf(R"(workloads:
  - name: a
    model: llama-3-8b
    traffic: {concurrency: -1}
)"),
            "d.yaml:4: workloads[0].traffic.concurrency: must be > 0");
  EXPECT_EQ(ErrorOf("workloads:\n  - model: llama-3-8b\n    traffic: {concurrency: 1}\n"),
            "d.yaml:2: workloads[0].name: required (it labels the workload's metrics)");
  EXPECT_EQ(ErrorOf("workloads:\n  - name: a\n    traffic: {concurrency: 1}\n"),
            "d.yaml:2: workloads[0].model: required (a preset id), or give architecture instead");
  EXPECT_EQ(ErrorOf(R"(workloads:
  - {name: a, model: llama-3-8b, traffic: {concurrency: 1}}
  - {name: a, model: llama-3-8b, traffic: {concurrency: 2}}
)"),
            "d.yaml:3: workloads[1].name: duplicate workload name 'a'");
  EXPECT_EQ(ErrorOf("workloads: {name: a}\n"),
            "d.yaml:1: workloads: must be a list, got a mapping");
  EXPECT_EQ(ErrorOf("workloads:\n"), "d.yaml:1: workloads: has no value");
  EXPECT_EQ(ErrorOf("bogus: 1\n"), "d.yaml:1: bogus: unknown field");
  EXPECT_EQ(ErrorOf(""), "d.yaml: empty document (expected a mapping of catalog fields)");
  EXPECT_THAT(ErrorOf("prices: {l4: -1}\n"), StartsWith("d.yaml:1: prices.l4: must be > 0"));
}

TEST(ServiceConfigTest, WorkloadsResolveAgainstTheFilesCatalog) {
  absl::StatusOr<ServiceConfig> c = ParseServiceConfig(
      "workloads:\n  - {name: a, model: llama-9, traffic: {concurrency: 1}}\n", "d.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()),
              StartsWith("d.yaml:2: workloads[0].model: unknown model 'llama-9'"));
  // A preset the same file adds is known to its workloads.
  c = ParseServiceConfig(R"(
presets:
  - id: my-model
    display_name: Mine
    task: llm-inference
    architecture: {parameters_billion: 1, layers: 16, hidden_size: 2048, attention_heads: 16,
                   kv_heads: 8, vocab_size: 32000}
workloads:
  - {name: a, model: my-model, traffic: {concurrency: 1}}
)",
                         "d.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST(ServiceConfigTest, MissingFileIsNotFound) {
  absl::StatusOr<ServiceConfig> c = LoadServiceConfigFile("/nonexistent/gpufitd.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("cannot read"));
}

// prometheus.servers: the allow-list of the live-load queries (config/prometheus_url.h).
TEST(ServiceConfigTest, PrometheusServersAreReadAndChecked) {
  absl::StatusOr<ServiceConfig> c = ParseServiceConfig(
      "prometheus:\n  servers:\n    - http://prometheus.monitoring:9090\n"
      "    - https://thanos.example/prometheus/\n",
      "d.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->prometheus_servers,
            (std::vector<std::string>{"http://prometheus.monitoring:9090",
                                      "https://thanos.example/prometheus/"}));
  EXPECT_TRUE(ParseServiceConfig("prices: {l4: 1}\n", "d.yaml")->prometheus_servers.empty());
  EXPECT_TRUE(
      ParseServiceConfig("prometheus: {servers: []}\n", "d.yaml")->prometheus_servers.empty());

  EXPECT_EQ(ErrorOf("prometheus:\n  servers: [http://p, ftp://q]\n"),
            "d.yaml:2: prometheus.servers[1]: must be a Prometheus URL (http://HOST:PORT or "
            "https://HOST[:PORT][/PATH]); got 'ftp://q'");
  EXPECT_EQ(ErrorOf("prometheus:\n  servers: [http://admin:pw@p:9090]\n"),
            "d.yaml:2: prometheus.servers[0]: must not carry userinfo (user:password@...): "
            "gpufitd sends no credentials to Prometheus");
  EXPECT_EQ(ErrorOf("prometheus:\n  servers: [http://p:80, HTTP://P/]\n"),
            "d.yaml:2: prometheus.servers[1]: the same server as prometheus.servers[0]");
  EXPECT_EQ(ErrorOf("prometheus:\n  servers: http://p\n"),
            "d.yaml:2: prometheus.servers: must be a list, got a scalar");
  EXPECT_EQ(ErrorOf("prometheus:\n  server: [http://p]\n"),
            "d.yaml:2: prometheus.server: unknown field");
  EXPECT_THAT(ErrorOf("prometheus: http://p\n"), StartsWith("d.yaml:1: prometheus: must be a"));
  EXPECT_THAT(ErrorOf("prometheus:\n  servers: [7]\n"), HasSubstr("prometheus.servers[0]"));
}

TEST(ServiceConfigTest, ExampleDaemonConfigLoads) {
  absl::StatusOr<ServiceConfig> c =
      LoadServiceConfigFile(GPUFIT_SOURCE_DIR "/examples/daemon/gpufitd.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->workloads.size(), 2u);
}

}  // namespace
}  // namespace gpufit::config

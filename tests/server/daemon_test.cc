// The daemon in-process: HTTP endpoints, the serving log line, config loading and reload,
// startup errors, shutdown.
#include "server/daemon.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "metrics/metrics_text.h"
#include "nlohmann/json.hpp"
#include "server/daemon_fixture.h"
#include "server/reloader.h"

namespace gpufit::server {
namespace {

using ::gpufit::testing::MetricValue;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::StartsWith;

constexpr char kConfigV1[] = R"(version: "t-1"
workloads:
  - name: chat
    model: llama-3-8b
    traffic: {concurrency: 50}
  - name: tenant
    model: mistral-7b
    precision: int4
    traffic: {concurrency: 4}
)";
constexpr char kConfigV2[] = R"(version: "t-2"
workloads:
  - name: chat
    model: llama-3-8b
    traffic: {concurrency: 500}
)";

// A file in the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(::testing::TempDir() + "/" + std::to_string(getpid()) + "-" + name) {}
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  void Write(const std::string& text) const {
    // Write-then-rename, as editors and ConfigMap updates do.
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::rename(tmp.c_str(), path_.c_str());
  }

 private:
  std::string path_;
};

class DaemonTest : public ::gpufit::testing::DaemonFixture {
 protected:
  DaemonTest() : DaemonFixture(LogLevel::kDebug) {}

  absl::Status Start(DaemonOptions options) {
    absl::Status s = StartDaemon(options);
    if (s.ok()) {
      http_ = std::make_unique<httplib::Client>("127.0.0.1", daemon_->http_port());
    }
    return s;
  }

  std::string Get(const std::string& path, int* status = nullptr,
                  std::string* content_type = nullptr) {
    httplib::Result r = http_->Get(path.c_str());
    EXPECT_TRUE(r) << "GET " << path;
    if (!r) return "";
    if (status != nullptr) *status = r->status;
    if (content_type != nullptr) *content_type = r->get_header_value("Content-Type");
    return r->body;
  }

  // The log lines with "msg" == `msg`.
  std::vector<nlohmann::json> LogLines(const std::string& msg) {
    std::vector<nlohmann::json> out;
    std::istringstream in(log_.str());
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line);  // every line is one JSON object
      if (j.at("msg") == msg) out.push_back(j);
    }
    return out;
  }

  std::unique_ptr<httplib::Client> http_;
};

TEST_F(DaemonTest, HttpEndpoints) {
  ASSERT_TRUE(Start(DaemonOptions{}).ok());
  int status = 0;
  std::string type;
  EXPECT_EQ(Get("/healthz", &status), "ok");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(Get("/readyz", &status), "ready");
  EXPECT_EQ(status, 200);
  const std::string metrics = Get("/metrics", &status, &type);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(
      MetricValue(metrics, "gpufit_build_info", {{"version", std::string(DaemonVersion())}}),
      Optional(1.0));
  EXPECT_THAT(MetricValue(metrics, "gpufit_config_info"), Optional(1.0));
  EXPECT_EQ(Get("/nope", &status, &type), R"({"error":"not found"})");
  EXPECT_EQ(status, 404);
  EXPECT_EQ(type, "application/json");
  httplib::Result post = http_->Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(DaemonTest, ServingLineHasBoundAddresses) {
  ASSERT_TRUE(Start(DaemonOptions{}).ok());
  const std::vector<nlohmann::json> lines = LogLines("serving");
  ASSERT_EQ(lines.size(), 1u) << log_.str();
  const nlohmann::json& j = lines[0];
  EXPECT_EQ(j.at("level"), "info");
  EXPECT_EQ(j.at("grpc_address"), "127.0.0.1:" + std::to_string(daemon_->grpc_port()));
  EXPECT_EQ(j.at("http_address"), "127.0.0.1:" + std::to_string(daemon_->http_port()));
  EXPECT_EQ(j.at("catalog_version"), daemon_->store().Snapshot()->version);
  // 2026-11-25T10:00:00.123Z
  EXPECT_THAT(j.at("ts").get<std::string>(),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));
}

TEST_F(DaemonTest, ShutdownTurnsReadinessOff) {
  ASSERT_TRUE(Start(DaemonOptions{}).ok());
  EXPECT_TRUE(daemon_->ready());
  daemon_->Shutdown();
  EXPECT_FALSE(daemon_->ready());
  EXPECT_FALSE(http_->Get("/healthz"));  // the HTTP server has stopped too
  daemon_->Shutdown();                   // idempotent
  EXPECT_EQ(LogLines("shutting down").size(), 1u);
  EXPECT_EQ(LogLines("stopped").size(), 1u);
}

TEST_F(DaemonTest, WorkloadMetricsFollowReloads) {
  TempFile file("gpufitd.yaml");
  file.Write(kConfigV1);
  DaemonOptions options;
  options.config_path = file.path();
  options.reload_poll_seconds = 0;  // reload by hand
  ASSERT_TRUE(Start(options).ok());
  std::string text = Get("/metrics");
  EXPECT_TRUE(MetricValue(text, "gpufit_workload_cost_usd_per_hour", {{"workload", "tenant"}}));
  const double chat_replicas =
      MetricValue(text, "gpufit_workload_recommended_replicas", {{"workload", "chat"}}).value();
  EXPECT_GE(chat_replicas, 1);
  EXPECT_GT(
      MetricValue(text, "gpufit_workload_output_tokens_per_second", {{"workload", "chat"}}).value(),
      0);
  const std::string v1 = daemon_->store().Snapshot()->version;
  EXPECT_THAT(v1, StartsWith("t-1+"));

  // Invalid: the old config keeps serving; one error line; counted.
  file.Write("workloads: [{name: chat, model: llama-3-8b, traffic: {concurrency: -1}}]\n");
  EXPECT_FALSE(daemon_->Reload());
  EXPECT_EQ(daemon_->store().Snapshot()->version, v1);
  const std::vector<nlohmann::json> failed = LogLines("config reload failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].at("level"), "error");
  EXPECT_THAT(failed[0].at("error").get<std::string>(),
              HasSubstr("workloads[0].traffic.concurrency: must be > 0"));

  // Valid: swapped in; the removed workload disappears from /metrics.
  file.Write(kConfigV2);
  EXPECT_TRUE(daemon_->Reload());
  EXPECT_THAT(daemon_->store().Snapshot()->version, StartsWith("t-2+"));
  text = Get("/metrics");
  EXPECT_THAT(text, Not(HasSubstr("workload=\"tenant\"")));
  EXPECT_GT(
      MetricValue(text, "gpufit_workload_recommended_replicas", {{"workload", "chat"}}).value(),
      chat_replicas);
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "success"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "failure"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_info", {{"version", v1}}), std::nullopt);

  // Deleted: an invalid reload.
  std::remove(file.path().c_str());
  EXPECT_FALSE(daemon_->Reload());
  EXPECT_THAT(daemon_->store().Snapshot()->version, StartsWith("t-2+"));
}

TEST_F(DaemonTest, ReloadWithoutConfigIsANoOp) {
  ASSERT_TRUE(Start(DaemonOptions{}).ok());
  EXPECT_FALSE(daemon_->Reload());
  EXPECT_THAT(MetricValue(Get("/metrics"), "gpufit_config_reloads_total", {{"result", "failure"}}),
              Optional(0.0));
}

TEST_F(DaemonTest, StartupErrors) {
  DaemonOptions options;
  options.config_path = "/nonexistent/gpufitd.yaml";
  absl::Status s = Start(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent/gpufitd.yaml: cannot read"));

  TempFile file("bad.yaml");
  file.Write("prices: {l4: zero}\n");
  options.config_path = file.path();
  s = Start(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()), file.path() + ":1: prices.l4: must be a number");

  options = DaemonOptions{};
  options.tls_cert_path = "/nonexistent/cert.pem";
  options.tls_key_path = "/nonexistent/key.pem";
  s = Start(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("--tls-cert: "));
}

TEST_F(DaemonTest, PortInUseIsAnError) {
  ASSERT_TRUE(Start(DaemonOptions{}).ok());
  DaemonOptions options;
  options.grpc_address = "127.0.0.1:" + std::to_string(daemon_->grpc_port());
  options.http_address = "127.0.0.1:0";
  Daemon second(options, &logger_);
  absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), StartsWith("--grpc-address: cannot listen on"));

  options.grpc_address = "127.0.0.1:0";
  options.http_address = "127.0.0.1:" + std::to_string(daemon_->http_port());
  Daemon third(options, &logger_);
  s = third.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), StartsWith("--http-address: cannot listen on"));
}

// The poll path of ConfigReloader, driven by hand. A change is loaded by the poll after the
// one that saw it, if the file has not changed again in between.
TEST(ConfigReloaderTest, PollSeesContentChangesOnly) {
  TempFile file("poll.yaml");
  file.Write(kConfigV1);
  std::ostringstream log;
  Logger logger(&log);
  metrics::Metrics metrics("0");
  int installs = 0;
  ConfigReloader reloader(file.path(), &logger, &metrics.config(),
                          [&](std::shared_ptr<const config::ServiceConfig>) { ++installs; });
  ASSERT_TRUE(reloader.LoadInitial().ok());
  EXPECT_EQ(installs, 1);
  EXPECT_FALSE(reloader.PollOnce());  // unchanged

  file.Write(kConfigV1);  // same text, new mtime: not a reload
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_EQ(installs, 1);

  file.Write(kConfigV2);
  EXPECT_FALSE(reloader.PollOnce());  // seen; loaded if unchanged at the next poll
  EXPECT_EQ(installs, 1);
  EXPECT_TRUE(reloader.PollOnce());
  EXPECT_EQ(installs, 2);
  EXPECT_FALSE(reloader.PollOnce());

  file.Write("");  // truncated: a failed reload, once
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_TRUE(reloader.PollOnce());
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_EQ(installs, 2);

  std::remove(file.path().c_str());  // deleted: another failed reload, once
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_TRUE(reloader.PollOnce());
  EXPECT_FALSE(reloader.PollOnce());

  file.Write(kConfigV2);  // back
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_TRUE(reloader.PollOnce());
  EXPECT_EQ(installs, 3);

  const std::string text = metrics.Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "success"}}),
              Optional(2.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "failure"}}),
              Optional(2.0));
}

// A file rewritten in place (`cat > file`) whose first part is valid on its own, here kConfigV1
// without its second workload: a poll between the two writes must not install the first
// part (it would drop a workload); the whole file is installed once it stops changing.
TEST(ConfigReloaderTest, HalfWrittenFileIsReadOnceItsWriterStops) {
  TempFile file("inplace.yaml");
  file.Write(kConfigV2);
  std::ostringstream log;
  Logger logger(&log);
  metrics::Metrics metrics("0");
  std::vector<size_t> installed_workloads;
  ConfigReloader reloader(file.path(), &logger, &metrics.config(),
                          [&](std::shared_ptr<const config::ServiceConfig> c) {
                            installed_workloads.push_back(c->workloads.size());
                          });
  ASSERT_TRUE(reloader.LoadInitial().ok());
  const std::string whole = kConfigV1;
  const size_t cut = whole.find("  - name: tenant");
  ASSERT_NE(cut, std::string::npos);
  ASSERT_TRUE(config::ParseServiceConfig(whole.substr(0, cut), "first-part.yaml").ok())
      << "the first part must be a valid config for this test to mean anything";

  std::ofstream out(file.path(), std::ios::trunc);  // in place: same inode, no rename
  out << whole.substr(0, cut) << std::flush;
  EXPECT_FALSE(reloader.PollOnce());  // the writer may not be done
  out << whole.substr(cut) << std::flush;
  out.close();
  EXPECT_FALSE(reloader.PollOnce());  // changed again since
  EXPECT_TRUE(reloader.PollOnce());   // unchanged for a poll interval: read
  EXPECT_EQ(installed_workloads, (std::vector<size_t>{1, 2}));
  EXPECT_THAT(
      MetricValue(metrics.Serialize(), "gpufit_config_reloads_total", {{"result", "failure"}}),
      Optional(0.0));
}

TEST(ConfigReloaderTest, PollingThreadPicksUpChanges) {
  TempFile file("thread.yaml");
  file.Write(kConfigV1);
  std::ostringstream log;
  Logger logger(&log);
  metrics::Metrics metrics("0");
  std::atomic<int> installs{0};
  ConfigReloader reloader(file.path(), &logger, &metrics.config(),
                          [&](std::shared_ptr<const config::ServiceConfig>) { ++installs; });
  ASSERT_TRUE(reloader.LoadInitial().ok());
  reloader.StartPolling(std::chrono::milliseconds(10));
  file.Write(kConfigV2);
  for (int i = 0; i < 1000 && installs < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  reloader.StopPolling();
  EXPECT_EQ(installs.load(), 2);
}

}  // namespace
}  // namespace gpufit::server

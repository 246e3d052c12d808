#include "metrics/metrics.h"

#include <cmath>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "config/catalog_loader.h"
#include "config/service_config.h"
#include "core/placement.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics_text.h"

namespace gpufit::metrics {
namespace {

using ::gpufit::testing::MetricValue;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

core::Workload Chat(double concurrency) {
  core::Workload w;
  w.name = "chat";
  w.model = "llama-3-8b";
  w.traffic.concurrency = concurrency;
  return w;
}

TEST(MetricsTest, EveryFamilyHasHelpAndTypeOnce) {
  Metrics m("9.9.9");
  // Labelled families without children are not exposed; give the workload ones a child.
  m.workloads().Set({{"a", "l4", 1, 1, 1}});
  m.config().ConfigLoaded("v", 1, /*reload=*/false);
  const std::string text = m.Serialize();
  std::set<std::string> helps;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helps.insert(name).second) << "duplicate HELP for " << name;
      EXPECT_GT(line.size(), 8 + name.size()) << "empty help for " << name;
    }
  }
  for (const char* family :
       {"gpufit_grpc_requests_total", "gpufit_grpc_request_duration_seconds",
        "gpufit_decisions_total", "gpufit_infeasible_options_total",
        "gpufit_workload_recommended_replicas", "gpufit_workload_cost_usd_per_hour",
        "gpufit_workload_output_tokens_per_second", "gpufit_config_reloads_total",
        "gpufit_config_last_reload_success_timestamp_seconds", "gpufit_config_info",
        "gpufit_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
        "process_start_time_seconds"}) {
    EXPECT_EQ(helps.count(family), 1u) << family;
  }
  EXPECT_THAT(MetricValue(text, "gpufit_build_info", {{"version", "9.9.9"}}), Optional(1.0));
  EXPECT_GT(*MetricValue(text, "process_resident_memory_bytes"), 0);
  EXPECT_GT(*MetricValue(text, "process_open_fds"), 0);
}

TEST(MetricsTest, GrpcRequestsByMethodAndCode) {
  Metrics m("0");
  m.grpc().Record(GrpcMethod::kPlace, 0, 0.001);
  m.grpc().Record(GrpcMethod::kPlace, 3, 0.00001);
  m.grpc().Record(GrpcMethod::kPlace, 3, 0.00001);
  m.grpc().Record(GrpcMethod::kGetCatalog, 99, 2.0);  // out of range -> UNKNOWN
  const std::string text = m.Serialize();
  EXPECT_THAT(
      MetricValue(text, "gpufit_grpc_requests_total", {{"method", "Place"}, {"code", "OK"}}),
      Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "Place"}, {"code", "INVALID_ARGUMENT"}}),
              Optional(2.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_requests_total",
                          {{"method", "GetCatalog"}, {"code", "UNKNOWN"}}),
              Optional(1.0));
  EXPECT_THAT(
      MetricValue(text, "gpufit_grpc_request_duration_seconds_count", {{"method", "Place"}}),
      Optional(3.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_request_duration_seconds_bucket",
                          {{"method", "Place"}, {"le", "5e-05"}}),
              Optional(2.0));
  EXPECT_THAT(MetricValue(text, "gpufit_grpc_request_duration_seconds_bucket",
                          {{"method", "GetCatalog"}, {"le", "1"}}),
              Optional(0.0));
}

TEST(MetricsTest, DecisionsCountRecommendedAcceleratorAndRejections) {
  Metrics m("0");
  const std::shared_ptr<const core::Catalog> catalog = config::DefaultCatalog();
  m.decisions().BindCatalog(catalog);
  const absl::StatusOr<core::Decision> d = core::PlaceWorkload(Chat(50), *catalog);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_NE(d->recommendation(), nullptr);
  m.decisions().RecordPlace(*catalog, *d);
  m.decisions().RecordPlace(*catalog, *d);
  core::Decision none;
  m.decisions().RecordPlace(*catalog, none);

  const std::string text = m.Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_decisions_total",
                          {{"accelerator", d->recommendation()->accelerator->id}}),
              Optional(2.0));
  EXPECT_THAT(MetricValue(text, "gpufit_decisions_total", {{"accelerator", "none"}}),
              Optional(1.0));
  double rejected = 0;
  for (const core::Option& o : d->options) rejected += o.feasible ? 0 : 1;
  double counted = 0;
  for (const char* reason : {"memory", "slo", "capability"}) {
    counted += MetricValue(text, "gpufit_infeasible_options_total", {{"reason", reason}}).value();
  }
  EXPECT_EQ(counted, 2 * rejected);
}

TEST(MetricsTest, DecisionFromAnUnboundCatalogStillCounts) {
  Metrics m("0");
  absl::StatusOr<std::shared_ptr<const core::Catalog>> other =
      config::LoadCatalogOverlay("prices: {l4: 0.5}\n", "c.yaml");
  ASSERT_TRUE(other.ok());
  m.decisions().BindCatalog(config::DefaultCatalog());
  const absl::StatusOr<core::Decision> d = core::PlaceWorkload(Chat(5), **other);
  ASSERT_TRUE(d.ok());
  m.decisions().RecordPlace(**other, *d);
  EXPECT_THAT(MetricValue(m.Serialize(), "gpufit_decisions_total",
                          {{"accelerator", d->recommendation()->accelerator->id}}),
              Optional(1.0));
}

TEST(MetricsTest, WorkloadSeriesAreReplacedOnSet) {
  Metrics m("0");
  m.workloads().Set({{"a", "l4", 2, 1.6, 900}, {"b", "none", 0, 0, 0}});
  std::string text = m.Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_workload_recommended_replicas",
                          {{"workload", "a"}, {"accelerator", "l4"}}),
              Optional(2.0));
  EXPECT_THAT(MetricValue(text, "gpufit_workload_cost_usd_per_hour", {{"workload", "a"}}),
              Optional(1.6));
  EXPECT_THAT(MetricValue(text, "gpufit_workload_output_tokens_per_second", {{"workload", "a"}}),
              Optional(900.0));
  m.workloads().Set({{"a", "t4", 3, 1.2, 800}});
  text = m.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("workload=\"b\"")));
  EXPECT_THAT(text, Not(HasSubstr("accelerator=\"l4\"")));
  EXPECT_THAT(MetricValue(text, "gpufit_workload_recommended_replicas",
                          {{"workload", "a"}, {"accelerator", "t4"}}),
              Optional(3.0));
}

TEST(MetricsTest, ConfigInfoFollowsTheVersionInForce) {
  Metrics m("0");
  m.config().ConfigLoaded("v1+abc", 100, /*reload=*/false);
  std::string text = m.Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_config_info", {{"version", "v1+abc"}}), Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "success"}}),
              Optional(0.0));
  m.config().ReloadFailed();
  m.config().ConfigLoaded("v2+def", 200, /*reload=*/true);
  text = m.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("v1+abc")));
  EXPECT_THAT(MetricValue(text, "gpufit_config_info", {{"version", "v2+def"}}), Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "success"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_reloads_total", {{"result", "failure"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_config_last_reload_success_timestamp_seconds"),
              Optional(200.0));
}

TEST(MetricsTest, FleetPlansByResultAndTheLastPlan) {
  Metrics m("0");
  std::string text = m.Serialize();
  for (const char* result : {"optimal", "feasible", "infeasible", "invalid", "error"}) {
    EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", result}}), Optional(0.0))
        << result;
  }
  // No plan yet: no "last plan" (a 0 would read as a free fleet).
  EXPECT_EQ(MetricValue(text, "gpufit_fleet_plan_cost_usd_per_hour"), std::nullopt);

  m.fleet().RecordFailure(FleetPlanResult::kInvalid);
  m.fleet().RecordFailure(FleetPlanResult::kInfeasible);
  m.fleet().RecordPlan(/*optimal=*/false, {12.5, 20, 0.04, 0.7, {{"l4", 3}, {"a100-80gb", 2}}});
  text = m.Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "feasible"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "invalid"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "infeasible"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_cost_usd_per_hour"), Optional(12.5));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_single_type_cost_usd_per_hour"), Optional(20.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_gap_ratio"), Optional(0.04));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_gpus", {{"accelerator", "l4"}}), Optional(3.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_solve_seconds_bucket", {{"le", "0.5"}}),
              Optional(0.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_solve_seconds_bucket", {{"le", "1"}}),
              Optional(1.0));

  // The next plan replaces the last one: its GPU types only; no single type feasible = NaN.
  m.fleet().RecordPlan(/*optimal=*/true, {4, std::nan(""), 0, 0.02, {{"h100-80gb", 1}}});
  text = m.Serialize();
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plans_total", {{"result", "optimal"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_cost_usd_per_hour"), Optional(4.0));
  const std::optional<double> single =
      MetricValue(text, "gpufit_fleet_plan_single_type_cost_usd_per_hour");
  ASSERT_TRUE(single.has_value());
  EXPECT_TRUE(std::isnan(*single));
  EXPECT_EQ(MetricValue(text, "gpufit_fleet_plan_gpus", {{"accelerator", "l4"}}), std::nullopt);
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_gpus", {{"accelerator", "h100-80gb"}}),
              Optional(1.0));
  EXPECT_THAT(MetricValue(text, "gpufit_fleet_plan_solve_seconds_count"), Optional(2.0));
}

TEST(MetricsTest, KedaTriggerSeriesAndRetention) {
  Metrics m("0");
  m.keda().SetTriggerLoad("chat", "l4", 7);
  m.keda().SetTriggerTarget("chat", "l4", 26.5);
  m.keda().SetTriggerActive("chat", "l4", true);
  m.keda().SetTriggerLoad("batch", "a100-80gb", 3);
  m.keda().ObserveQuery(0.003);
  std::string text = m.Serialize();
  EXPECT_THAT(
      MetricValue(text, "gpufit_keda_trigger_load", {{"workload", "chat"}, {"accelerator", "l4"}}),
      Optional(7.0));
  EXPECT_THAT(MetricValue(text, "gpufit_keda_trigger_target_per_replica", {{"workload", "chat"}}),
              Optional(26.5));
  EXPECT_THAT(MetricValue(text, "gpufit_keda_trigger_active", {{"workload", "chat"}}),
              Optional(1.0));
  // Only what was set exists: batch has a load, no target.
  EXPECT_EQ(MetricValue(text, "gpufit_keda_trigger_target_per_replica", {{"workload", "batch"}}),
            std::nullopt);
  EXPECT_THAT(MetricValue(text, "gpufit_keda_query_duration_seconds_bucket", {{"le", "0.0025"}}),
              Optional(0.0));
  EXPECT_THAT(MetricValue(text, "gpufit_keda_query_duration_seconds_bucket", {{"le", "0.005"}}),
              Optional(1.0));
  m.keda().RetainTriggerWorkloads({"batch"});
  text = m.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("workload=\"chat\"")));
  EXPECT_THAT(MetricValue(text, "gpufit_keda_trigger_load", {{"workload", "batch"}}),
              Optional(3.0));
}

}  // namespace
}  // namespace gpufit::metrics

// Tests of config/proto_conversion: core <-> gpufit.v1 messages and the JSON/YAML rendering.
// (Here rather than tests/config because tests/CMakeLists.txt builds the CLI test binary
// against gpufit_cli, which carries gpufit_config.)
#include "api/proto_conversion.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/accelerator.h"
#include "core/decision.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "render/narration.h"
#include "render/proto_text.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::api {
namespace {

using ::testing::HasSubstr;

core::Workload FullWorkload() {
  core::Workload w;
  w.name = "rag";
  w.model = "";
  core::ModelArchitecture a;
  a.parameters_billion = 7.2;
  a.layers = 32;
  a.hidden_size = 4096;
  a.intermediate_size = 14336;
  a.attention_heads = 32;
  a.kv_heads = 8;
  a.head_dim = 128;
  a.vocab_size = 32000;
  a.tied_embeddings = true;
  a.sliding_window_tokens = 4096;
  a.experts = 8;
  a.active_experts = 2;
  a.active_parameters_billion = 12.9;
  w.architecture = a;
  w.precision = core::Precision::kFp8;
  w.kv_cache_precision = core::Precision::kFp8;
  w.task = core::Task::kFineTuneQlora;
  w.traffic = {12, 3.5, 900, 1e9, 1024, 128, 8192};
  w.slo = {500, 40};
  w.training = {2e8, 3, 4, 4096, 64};
  w.objective = core::Objective::kLatency;
  w.isolation = core::Isolation::kDedicated;
  w.accelerators = {"l4", "a100-80gb/3g.40gb"};
  w.max_gpus_per_replica = 4;
  return w;
}

TEST(ProtoConversionTest, WorkloadRoundTrips) {
  const core::Workload w = FullWorkload();
  const gpufit::v1::Workload proto = ToProto(w);
  EXPECT_EQ(proto.precision(), gpufit::v1::PRECISION_FP8);
  EXPECT_EQ(proto.task(), gpufit::v1::TASK_FINE_TUNE_QLORA);
  EXPECT_EQ(proto.architecture().kv_heads(), 8);

  absl::StatusOr<core::Workload> back = FromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  // Compare through the proto form: every field is carried there.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ToProto(*back), proto))
      << render::ToJson(ToProto(*back));
  EXPECT_EQ(back->kv_cache_precision, core::Precision::kFp8);
  EXPECT_EQ(back->training.lora_rank, 64);
}

TEST(ProtoConversionTest, UnspecifiedMeansDefault) {
  gpufit::v1::Workload proto;
  proto.set_name("chat");
  proto.set_model("llama-3-8b");
  absl::StatusOr<core::Workload> w = FromProto(proto);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->precision, core::Precision::kBf16);
  EXPECT_FALSE(w->kv_cache_precision.has_value());
  EXPECT_FALSE(w->task.has_value());
  EXPECT_FALSE(w->architecture.has_value());
  EXPECT_EQ(w->objective, core::Objective::kCost);
  EXPECT_EQ(w->isolation, core::Isolation::kShared);
  EXPECT_EQ(w->training.epochs, 1);
  EXPECT_EQ(w->training.lora_rank, 16);
}

TEST(ProtoConversionTest, UnknownEnumNumbersAreFieldPathErrors) {
  gpufit::v1::Workload proto;
  proto.set_model("llama-3-8b");
  proto.set_precision(static_cast<gpufit::v1::Precision>(42));
  absl::StatusOr<core::Workload> w = FromProto(proto);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.status().message(), "workload.precision: unknown value 42");

  proto.set_precision(gpufit::v1::PRECISION_BF16);
  proto.set_isolation(static_cast<gpufit::v1::Isolation>(9));
  EXPECT_THAT(std::string(FromProto(proto, "workloads[3]").status().message()),
              HasSubstr("workloads[3].isolation: unknown value 9"));

  proto.set_isolation(gpufit::v1::ISOLATION_SHARED);
  proto.add_accelerators("l4");
  proto.add_accelerators("");
  EXPECT_EQ(FromProto(proto).status().message(), "workload.accelerators[1]: must not be empty");
}

core::Option MakeOption(const core::Accelerator* a, bool feasible, double cost) {
  core::Option o;
  o.accelerator = a;
  o.feasible = feasible;
  o.replicas = feasible ? 2 : 0;
  o.cost_usd_per_hour = cost;
  o.replica_cost_usd_per_hour = cost / 2;
  o.usd_per_million_tokens = cost / 10;
  o.prediction.output_tokens_per_second = 1000;
  o.prediction.tpot_ms = 20;
  o.prediction.ttft_ms = 150;
  o.prediction.memory.total_gib = 18;
  o.prediction.memory.usable_gib = 20;
  return o;
}

TEST(ProtoConversionTest, DecisionRanksFeasibleOptionsAndExplains) {
  core::Accelerator l4, a100, t4;
  l4.id = "l4";
  a100.id = "a100-80gb";
  t4.id = "t4";
  core::Decision d;
  d.workload_name = "chat";
  d.options.push_back(MakeOption(&l4, true, 1.0));
  d.options.push_back(MakeOption(&a100, true, 2.0));
  core::Option rejected = MakeOption(&t4, false, 0);
  rejected.rejection = {core::RejectClass::kMemory, core::RejectKind::kMemoryWeights, 16.5, 13.5};
  d.options.push_back(rejected);
  d.recommended = 0;

  const gpufit::v1::Decision p = ToProto(d, core::Objective::kCost, "v1+abc");
  EXPECT_EQ(p.workload_name(), "chat");
  EXPECT_EQ(p.catalog_version(), "v1+abc");
  EXPECT_EQ(p.unit(), "token");
  ASSERT_EQ(p.options_size(), 3);
  EXPECT_EQ(p.options(0).rank(), 1);
  EXPECT_EQ(p.options(1).rank(), 2);
  EXPECT_EQ(p.options(2).rank(), 0);
  EXPECT_EQ(p.options(2).reject_class(), "memory");
  EXPECT_EQ(p.options(2).reason(), render::RejectionText(d.options[2]));
  EXPECT_FALSE(p.options(2).reason().empty());
  EXPECT_EQ(p.options(0).reason(), "");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p.recommendation(), p.options(0)));
  EXPECT_DOUBLE_EQ(p.recommendation().memory().usable_gib(), 20);
  EXPECT_THAT(p.explanation(), HasSubstr("cheapest of 2 feasible options"));
  EXPECT_THAT(p.explanation(), HasSubstr("a100-80gb x1 costs 2.0x more"));

  EXPECT_THAT(render::ExplainDecision(d, core::Objective::kLatency), HasSubstr("lowest latency"));

  d.recommended = -1;
  d.options = {rejected};
  const gpufit::v1::Decision none = ToProto(d, core::Objective::kCost, "v");
  EXPECT_FALSE(none.has_recommendation());
  EXPECT_THAT(none.explanation(), HasSubstr("1 memory"));
}

TEST(ProtoConversionTest, AcceleratorCarriesMigFields) {
  core::Accelerator a100;
  a100.id = "a100-80gb";
  a100.memory_gib = 80;
  a100.price_usd_per_hour = 3.5;
  a100.mig_profiles = {{"1g.10gb", 1, 1, 7}, {"3g.40gb", 3, 4, 2}};
  const core::Accelerator slice = core::MakeMigSlice(a100, a100.mig_profiles[0]);
  const gpufit::v1::Accelerator whole = ToProto(a100);
  ASSERT_EQ(whole.mig_profiles_size(), 2);
  EXPECT_EQ(whole.mig_profiles(1).name(), "3g.40gb");
  EXPECT_EQ(whole.mig_profiles(1).max_instances(), 2);
  const gpufit::v1::Accelerator p = ToProto(slice);
  EXPECT_EQ(p.id(), "a100-80gb/1g.10gb");
  EXPECT_EQ(p.parent_id(), "a100-80gb");
  EXPECT_EQ(p.mig_profile(), "1g.10gb");
  EXPECT_EQ(p.compute_slices(), 1);
  EXPECT_DOUBLE_EQ(p.memory_gib(), 10);
}

TEST(ProtoConversionTest, JsonUsesFieldNamesAndPrintsZeros) {
  gpufit::v1::Option o;
  o.set_accelerator("l4");
  const std::string json = render::ToJson(o);
  EXPECT_THAT(json, HasSubstr("\"accelerator\": \"l4\""));
  EXPECT_THAT(json, HasSubstr("\"gpus_per_replica\": 0"));
  EXPECT_THAT(json, HasSubstr("\"usd_per_million_tokens\": 0"));
  EXPECT_EQ(json.back(), '\n');
  gpufit::v1::Option back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_EQ(back.accelerator(), "l4");
}

TEST(ProtoConversionTest, YamlKeepsStringsThatLookLikeNumbers) {
  gpufit::v1::Catalog c;
  c.set_version("1234");
  gpufit::v1::Accelerator* a = c.add_accelerators();
  a->set_id("true");
  a->set_display_name("NVIDIA L4: 24 GB");
  a->set_memory_gib(22.5);
  const std::string yaml = render::ToYaml(c);
  const YAML::Node node = YAML::Load(yaml);
  EXPECT_EQ(node["version"].Tag(), "!") << yaml;  // quoted: a string, not the integer 1234
  EXPECT_EQ(node["version"].as<std::string>(), "1234");
  EXPECT_EQ(node["accelerators"][0]["id"].Tag(), "!") << yaml;
  EXPECT_EQ(node["accelerators"][0]["display_name"].as<std::string>(), "NVIDIA L4: 24 GB");
  EXPECT_DOUBLE_EQ(node["accelerators"][0]["memory_gib"].as<double>(), 22.5);
  EXPECT_NE(node["accelerators"][0]["memory_gib"].Tag(), "!");
  EXPECT_TRUE(node["presets"].IsSequence());
}

}  // namespace
}  // namespace gpufit::api

// `gpufit fleet`: the seed's seven isolated tenants on one A100 as 7 x 1g.10gb, outputs, and
// exit code 2 with FILE:LINE: field on bad fleet files.
#include <fstream>
#include <sstream>
#include <string>

#include "cli/cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::cli {
namespace {

using ::testing::HasSubstr;

int RunFleetCli(const std::vector<std::string>& args, std::string* out, std::string* err) {
  std::ostringstream o, e;
  const int rc = RunCli(args, o, e);
  *out = o.str();
  *err = e.str();
  return rc;
}

std::string Example(const std::string& name) {
  return std::string(GPUFIT_SOURCE_DIR) + "/examples/fleet/" + name;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(FleetCliTest, SevenTenantsOnOneA100AsSevenSlices) {
  std::string out, err;
  const std::string mig = ::testing::TempDir() + "mig.yaml";
  ASSERT_EQ(RunFleetCli({"fleet", Example("seven-tenants.yaml"), "--mig-config", mig}, &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("$1.79/h (optimal"));
  EXPECT_THAT(out, HasSubstr("l4 only $3.50/h"));
  EXPECT_THAT(out, HasSubstr("1 as 7x1g.10gb"));
  std::ifstream in(mig);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("version: v1\nmig-configs:\n"));
  EXPECT_THAT(text.str(), HasSubstr("  a100-80gb-7x1g.10gb:"));
  EXPECT_THAT(text.str(), HasSubstr("\"1g.10gb\": 7"));
}

TEST(FleetCliTest, JsonAndYamlOutputs) {
  std::string out, err;
  ASSERT_EQ(RunFleetCli({"fleet", Example("mixed.yaml"), "-o", "json"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("\"cost_usd_per_hour\""));
  EXPECT_THAT(out, HasSubstr("\"support-bucketed\""));
  ASSERT_EQ(RunFleetCli({"fleet", Example("mixed.yaml"), "-o", "yaml"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("single_type_fleets:"));
}

TEST(FleetCliTest, BadFleetFilesExitTwoWithFileLineField) {
  std::string out, err;
  const std::string bad_field =
      WriteTemp("bad1.yaml",
                "name: x\nworkloads:\n  - name: a\n    model: llama-3-8b\n"
                "    traffic: {concurrency: -1}\n");
  EXPECT_EQ(RunFleetCli({"fleet", bad_field}, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("bad1.yaml:5: workloads[0].traffic.concurrency: must be > 0"));
  const std::string bad_bucket = WriteTemp(
      "bad2.yaml",
      "workloads:\n  - name: a\n    model: llama-3-8b\n    buckets:\n      requests_per_second: 4\n"
      "      distribution:\n        - {input_tokens: 0, output_tokens: 8, fraction: 1}\n");
  EXPECT_EQ(RunFleetCli({"fleet", bad_bucket}, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("bad2.yaml:7: workloads[0].buckets.distribution[0].input_tokens"));
  const std::string unknown = WriteTemp("bad3.yaml", "workloads: []\nfoo: 1\n");
  EXPECT_EQ(RunFleetCli({"fleet", unknown}, &out, &err), 2);
  const std::string bad_model =
      WriteTemp("bad4.yaml", "workloads:\n  - {name: a, model: llama-9}\n");
  EXPECT_EQ(RunFleetCli({"fleet", bad_model}, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("workloads[0].model"));
  EXPECT_EQ(RunFleetCli({"fleet", "/nonexistent/fleet.yaml"}, &out, &err), 2);
}

}  // namespace
}  // namespace gpufit::cli

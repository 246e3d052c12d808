// End-to-end tests of the `gpufit` command line, run two ways: in-process through RunCli with
// string streams, and as the real binary (fork/exec, stdout/stderr captured) so that exit
// codes, stream separation and "no crash" are checked on the artefact users run.
#include "cli/cli.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "config/catalog_loader.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gpufit/v1/catalog.pb.h"
#include "gpufit/v1/decision.pb.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The whole-GPU ids of the default catalog (configs/catalog.yaml).
const std::vector<std::string> kGpuIds = {"t4",        "l4",        "a10g",      "l40s",
                                          "a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb"};

constexpr char kChatWorkload[] = R"(name: chat
model: llama-3-8b
precision: bf16
traffic:
  concurrency: 32
  input_tokens: 512
  output_tokens: 256
slo:
  tpot_ms: 100
)";

class CliTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "gpufit-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Runs `gpufit args...` the way the test parameter says: the real binary or in-process.
  Result Run(const std::vector<std::string>& args) {
    return GetParam() ? RunBinary(args) : RunInProcess(args);
  }

  static Result RunInProcess(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    Result r;
    r.exit_code = RunCli(args, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  Result RunBinary(const std::vector<std::string>& args) {
    const std::string binary = GPUFIT_BINARY_DIR "/gpufit";
    const std::string out_path = dir_ + "/.stdout";
    const std::string err_path = dir_ + "/.stderr";
    std::vector<std::string> argv_storage = {binary};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out_fd < 0 || err_fd < 0) _exit(126);
      dup2(out_fd, STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    Result r;
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return r;
    // A signal (a crash) shows up as 128 + signal, never as one of gpufit's codes.
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadAll(out_path);
    r.err = ReadAll(err_path);
    return r;
  }

  // Bad input: exit code 2, nothing on stdout, exactly one stderr line "gpufit: ...".
  void ExpectBadInput(const Result& r, const std::vector<std::string>& mentions) {
    EXPECT_EQ(r.exit_code, kExitBadInput) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, StartsWith("gpufit: "));
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.back(), '\n');
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const std::string& m : mentions) EXPECT_THAT(r.err, HasSubstr(m));
  }

  std::string dir_;
};

// --- Bad input -----------------------------------------------------------------------------------

TEST_P(CliTest, MissingFile) {
  const std::string path = dir_ + "/no-such-workload.yaml";
  ExpectBadInput(Run({"plan", path}), {"no-such-workload.yaml"});
  ExpectBadInput(Run({"validate", path}), {"no-such-workload.yaml"});
}

TEST_P(CliTest, MalformedYaml) {
  const std::string path = Write("broken.yaml", "name: chat\nmodel: [llama-3-8b\ntraffic: {\n");
  ExpectBadInput(Run({"plan", path}), {"broken.yaml"});
  ExpectBadInput(Run({"validate", path}), {"broken.yaml"});
}

TEST_P(CliTest, UnknownModel) {
  const std::string path = Write("unknown-model.yaml",
                                 "name: chat\nmodel: llama-9\n"
                                 "traffic:\n  concurrency: 4\n");
  ExpectBadInput(Run({"plan", path}), {"unknown-model.yaml", "model", "llama-9"});
  ExpectBadInput(Run({"validate", path}), {"model", "llama-9"});
}

TEST_P(CliTest, UnknownAcceleratorInPredict) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  ExpectBadInput(Run({"predict", path, "--accelerator", "gtx-1080"}),
                 {"--accelerator", "gtx-1080"});
}

TEST_P(CliTest, PredictNeedsAccelerator) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  ExpectBadInput(Run({"predict", path}), {"--accelerator"});
  ExpectBadInput(Run({"predict", path, "--accelerator", "l4", "--gpus", "two"}), {"--gpus"});
}

TEST_P(CliTest, ZeroConcurrency) {
  const std::string path =
      Write("zero.yaml", "name: chat\nmodel: llama-3-8b\ntraffic:\n  concurrency: 0\n");
  ExpectBadInput(Run({"plan", path}), {"zero.yaml", "traffic.concurrency"});
}

TEST_P(CliTest, NegativeConcurrency) {
  const std::string path =
      Write("negative.yaml", "name: chat\nmodel: llama-3-8b\ntraffic:\n  concurrency: -4\n");
  ExpectBadInput(Run({"plan", path}), {"negative.yaml", "traffic.concurrency"});
}

TEST_P(CliTest, UnknownPrecision) {
  const std::string path = Write("fp7.yaml",
                                 "name: chat\nmodel: llama-3-8b\nprecision: fp7\n"
                                 "traffic:\n  concurrency: 4\n");
  ExpectBadInput(Run({"plan", path}), {"fp7.yaml", "precision"});
}

TEST_P(CliTest, UnknownFlag) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  ExpectBadInput(Run({"plan", path, "--bogus"}), {"--bogus"});
  ExpectBadInput(Run({"catalog", "--bogus=1"}), {"--bogus"});
  ExpectBadInput(Run({"--bogus"}), {"--bogus"});
}

TEST_P(CliTest, BadOutputFormatAndUsage) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  ExpectBadInput(Run({"plan", path, "--output", "xml"}), {"--output", "xml"});
  ExpectBadInput(Run({"plan", path, "--output"}), {"--output"});
  ExpectBadInput(Run({"plan"}), {"plan"});
  ExpectBadInput(Run({"plan", path, path}), {"plan"});
  ExpectBadInput(Run({}), {"command"});
  ExpectBadInput(Run({"deploy"}), {"deploy"});
}

// --- plan ----------------------------------------------------------------------------------------

TEST_P(CliTest, PlanJsonParsesBackIntoDecision) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  const Result r = Run({"plan", path, "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  gpufit::v1::Decision decision;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &decision).ok()) << r.out;

  EXPECT_EQ(decision.workload_name(), "chat");
  EXPECT_EQ(decision.unit(), "token");
  EXPECT_FALSE(decision.catalog_version().empty());
  EXPECT_FALSE(decision.explanation().empty());
  ASSERT_TRUE(decision.has_recommendation());
  const gpufit::v1::Option& rec = decision.recommendation();
  EXPECT_FALSE(rec.accelerator().empty());
  EXPECT_GE(rec.gpus_per_replica(), 1);
  EXPECT_GE(rec.replicas(), 1);
  EXPECT_GT(rec.cost_usd_per_hour(), 0);
  EXPECT_EQ(rec.rank(), 1);
  EXPECT_TRUE(rec.feasible());

  ASSERT_GT(decision.options_size(), 1);
  int expected_rank = 1;
  bool seen_rejected = false;
  std::set<std::string> accelerators;
  for (const gpufit::v1::Option& o : decision.options()) {
    accelerators.insert(o.accelerator());
    EXPECT_GE(o.gpus_per_replica(), 1);
    if (o.feasible()) {
      EXPECT_FALSE(seen_rejected) << "feasible options come first";
      EXPECT_EQ(o.rank(), expected_rank++);
      EXPECT_EQ(o.reason(), "");
      EXPECT_GE(o.replicas(), 1);
      EXPECT_GT(o.output_tokens_per_second(), 0);
      EXPECT_GT(o.memory().total_gib(), 0);
      EXPECT_LE(o.memory().total_gib(), o.memory().usable_gib() + 1e-9);
    } else {
      seen_rejected = true;
      EXPECT_EQ(o.rank(), 0);
      EXPECT_FALSE(o.reason().empty()) << o.accelerator();
      EXPECT_THAT(o.reject_class(), ::testing::AnyOf("memory", "slo", "capability"));
    }
  }
  EXPECT_EQ(decision.options(0).accelerator(), rec.accelerator());
  // Every GPU of the catalog was considered (whole GPUs at least once).
  for (const std::string& id : kGpuIds) EXPECT_EQ(accelerators.count(id), 1u) << id;

  // Zero-valued fields are printed too, with the proto (= YAML) field names.
  for (const char* key : {"\"usd_per_million_tokens\"", "\"tokens_per_second_per_usd\"",
                          "\"optimizer_gib\"", "\"training_hours\"", "\"reject_class\"",
                          "\"max_concurrency\"", "\"concurrency_per_replica\""}) {
    EXPECT_THAT(r.out, HasSubstr(key));
  }
}

TEST_P(CliTest, PlanTableHasHeadlineAndEveryOption) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  const Result json = Run({"plan", path, "--output=json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  gpufit::v1::Decision decision;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &decision).ok());

  const Result r = Run({"plan", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_GT(lines.size(), 5u);
  EXPECT_THAT(lines[0],
              AllOf(StartsWith("Recommendation: " + decision.recommendation().accelerator() + " x"),
                    HasSubstr("/replica"), HasSubstr("/h"), HasSubstr("per 1M output tokens")));
  EXPECT_THAT(lines[1], StartsWith("Why: "));
  EXPECT_THAT(r.out, HasSubstr("RANK"));
  EXPECT_THAT(r.out, HasSubstr("WHY NOT"));
  for (const gpufit::v1::Option& o : decision.options()) {
    if (!o.feasible()) {
      EXPECT_THAT(r.out, HasSubstr(o.reason()));
    }
  }
}

TEST_P(CliTest, PlanYamlLoadsWithYamlCpp) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  const Result r = Run({"plan", path, "-o", "yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  YAML::Node node;
  ASSERT_NO_THROW(node = YAML::Load(r.out)) << r.out;
  ASSERT_TRUE(node.IsMap());
  EXPECT_EQ(node["workload_name"].as<std::string>(), "chat");
  EXPECT_FALSE(node["recommendation"]["accelerator"].as<std::string>().empty());
  EXPECT_GE(node["recommendation"]["replicas"].as<int>(), 1);
  EXPECT_GT(node["recommendation"]["cost_usd_per_hour"].as<double>(), 0);
  ASSERT_TRUE(node["options"].IsSequence());
  EXPECT_GT(node["options"].size(), 1u);
  EXPECT_TRUE(node["options"][0]["memory"].IsMap());
  // Block style, not JSON re-printed.
  EXPECT_EQ(r.out.find('{'), std::string::npos) << r.out.substr(0, 200);
}

TEST_P(CliTest, PlanWithCatalogOverlay) {
  const std::string workload = Write("chat.yaml", kChatWorkload);
  const std::string overlay = Write("prices.yaml", "prices:\n  l4: 0.01\n");
  const Result r = Run({"plan", workload, "--catalog", overlay, "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  gpufit::v1::Decision decision;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &decision).ok());
  // A one-cent L4 that fits llama-3-8b in bf16 wins on cost.
  EXPECT_EQ(decision.recommendation().accelerator(), "l4");
  EXPECT_NE(decision.catalog_version(), config::DefaultCatalog()->version());

  ExpectBadInput(Run({"plan", workload, "--catalog", dir_ + "/missing-catalog.yaml"}),
                 {"missing-catalog.yaml"});
}

// --- predict -------------------------------------------------------------------------------------

TEST_P(CliTest, PredictTableAndJson) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  const Result table = Run({"predict", path, "--accelerator", "a100-80gb"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const char* label : {"output_tokens_per_second", "ttft_ms", "tpot_ms", "max_concurrency",
                            "weights", "kv_cache", "replicas", "cost"}) {
    EXPECT_THAT(table.out, HasSubstr(label));
  }
  const Result json =
      Run({"predict", path, "--accelerator", "a100-80gb", "--gpus", "2", "--output", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  gpufit::v1::Option option;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &option).ok()) << json.out;
  EXPECT_EQ(option.accelerator(), "a100-80gb");
  EXPECT_EQ(option.gpus_per_replica(), 2);
  EXPECT_GT(option.output_tokens_per_second(), 0);
  EXPECT_GT(option.tpot_ms(), 0);
  EXPECT_GT(option.memory().weights_gib(), 0);

  const Result slice = Run({"predict", path, "--accelerator", "a100-80gb/1g.10gb", "-o", "yaml"});
  ASSERT_EQ(slice.exit_code, 0) << slice.err;
  EXPECT_EQ(YAML::Load(slice.out)["accelerator"].as<std::string>(), "a100-80gb/1g.10gb");
}

// --- catalog -------------------------------------------------------------------------------------

TEST_P(CliTest, CatalogTableListsGpusSlicesAndPresets) {
  const Result r = Run({"catalog"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& id : kGpuIds) EXPECT_THAT(r.out, HasSubstr("\n" + id + " ")) << id;
  EXPECT_THAT(r.out, HasSubstr("a100-80gb/1g.10gb"));
  EXPECT_THAT(r.out, HasSubstr("a100-80gb/7g.80gb"));
  EXPECT_THAT(r.out, HasSubstr("llama-3-8b"));
  EXPECT_THAT(r.out, HasSubstr("llm-inference"));
}

TEST_P(CliTest, CatalogJson) {
  const Result r = Run({"catalog", "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  gpufit::v1::Catalog catalog;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &catalog).ok());
  EXPECT_EQ(catalog.version(), config::DefaultCatalog()->version());
  std::set<std::string> whole;
  bool found_slice = false;
  for (const gpufit::v1::Accelerator& a : catalog.accelerators()) {
    if (a.parent_id().empty()) whole.insert(a.id());
    if (a.id() == "a100-80gb/1g.10gb") {
      found_slice = true;
      EXPECT_EQ(a.parent_id(), "a100-80gb");
      EXPECT_EQ(a.mig_profile(), "1g.10gb");
      EXPECT_GT(a.memory_gib(), 0);
      EXPECT_GT(a.price_usd_per_hour(), 0);
    }
  }
  EXPECT_EQ(whole, std::set<std::string>(kGpuIds.begin(), kGpuIds.end()));
  EXPECT_TRUE(found_slice);
  EXPECT_GT(catalog.presets_size(), 0);
  EXPECT_EQ(catalog.presets_size(), static_cast<int>(config::DefaultCatalog()->presets().size()));
}

TEST_P(CliTest, CatalogYaml) {
  const Result r = Run({"catalog", "--output", "yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const YAML::Node node = YAML::Load(r.out);
  EXPECT_EQ(node["version"].as<std::string>(), config::DefaultCatalog()->version());
  EXPECT_TRUE(node["accelerators"].IsSequence());
}

// --- validate ------------------------------------------------------------------------------------

TEST_P(CliTest, ValidateWorkload) {
  const std::string path = Write("chat.yaml", kChatWorkload);
  const Result r = Run({"validate", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, path + ": ok (workload 'chat')\n");
  EXPECT_EQ(r.err, "");
}

TEST_P(CliTest, ValidateCatalogOverlay) {
  const std::string path = Write("prices.yaml", "prices:\n  l4: 0.70\n");
  const Result r = Run({"validate", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith(path + ": ok (catalog"));

  const std::string bad = Write("bad-prices.yaml", "prices:\n  l4: -1\n");
  ExpectBadInput(Run({"validate", bad}), {"bad-prices.yaml", "l4"});
}

TEST_P(CliTest, ValidateBadWorkload) {
  const std::string path =
      Write("bad.yaml", "name: chat\nmodel: llama-3-8b\ntraffic:\n  concurrency: -1\n");
  ExpectBadInput(Run({"validate", path}), {"bad.yaml", "traffic.concurrency"});
}

// --- help / version ------------------------------------------------------------------------------

TEST_P(CliTest, HelpAndVersion) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"help"}, {"-h"}}) {
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out,
                AllOf(HasSubstr("Usage"), HasSubstr("gpufit plan"), HasSubstr("gpufit predict"),
                      HasSubstr("gpufit catalog"), HasSubstr("gpufit validate")));
    EXPECT_EQ(r.err, "");
  }
  const Result plan_help = Run({"plan", "--help"});
  EXPECT_EQ(plan_help.exit_code, 0);
  EXPECT_THAT(plan_help.out, HasSubstr("gpufit plan WORKLOAD.yaml"));
  EXPECT_EQ(Run({"help", "predict"}).exit_code, 0);

  const Result version = Run({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("gpufit 0."));
}

INSTANTIATE_TEST_SUITE_P(InProcessAndBinary, CliTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Binary" : "InProcess";
                         });

// argv form, as main() calls it.
TEST(RunCliArgvTest, IgnoresProgramName) {
  const char* argv[] = {"/usr/bin/gpufit", "--version"};
  std::ostringstream out, err;
  EXPECT_EQ(RunCli(2, argv, out, err), kExitOk);
  EXPECT_THAT(out.str(), StartsWith("gpufit "));
}

}  // namespace
}  // namespace gpufit::cli

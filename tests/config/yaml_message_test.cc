// YAML read into gpufit.v1 messages through their descriptors (config/yaml_message.h).
#include "config/yaml_message.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "api/proto_conversion.h"
#include "config/workload_loader.h"
#include "config/yaml_reader.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gpufit/v1/fleet.pb.h"
#include "gpufit/v1/workload.pb.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

namespace v1 = ::gpufit::v1;
using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::util::MessageDifferencer;

// Reads `yaml` as a v1::Workload; the error message, or "" with *out set.
std::string Read(const std::string& yaml, v1::Workload* out, SourceMap* lines = nullptr) {
  const internal::YamlReader r("w.yaml");
  absl::StatusOr<YAML::Node> root = r.ParseTopLevelMap(yaml, "workload");
  if (!root.ok()) return std::string(root.status().message());
  const absl::Status s = ReadYamlMessage(r, *root, "", out, lines);
  return std::string(s.message());
}

TEST(YamlMessageTest, EveryExampleWorkloadReadsAsTheHandWrittenReaderReadsIt) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(GPUFIT_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    if (LooksLikeCatalog(text.str())) continue;
    absl::StatusOr<core::Workload> hand = LoadWorkloadFile(entry.path().string());
    ASSERT_TRUE(hand.ok()) << hand.status();
    v1::Workload generic;
    ASSERT_EQ(Read(text.str(), &generic), "") << entry.path();
    absl::StatusOr<core::Workload> converted = api::FromProto(generic, "");
    ASSERT_TRUE(converted.ok()) << converted.status();
    EXPECT_TRUE(MessageDifferencer::Equals(api::ToProto(*converted), api::ToProto(*hand)))
        << entry.path() << "\ngeneric:\n"
        << api::ToProto(*converted).DebugString() << "hand-written:\n"
        << api::ToProto(*hand).DebugString();
    ++examples;
  }
  EXPECT_GE(examples, 15);
}

TEST(YamlMessageTest, StrictAboutKeysValuesAndTypes) {
  v1::Workload w;
  EXPECT_EQ(Read("model: llama-3-8b\nmodle: x\n", &w), "w.yaml:2: modle: unknown field");
  EXPECT_EQ(Read("model: a\nmodel: b\n", &w), "w.yaml:2: model: duplicate field");
  EXPECT_EQ(Read("model:\n", &w), "w.yaml:1: model: has no value");
  EXPECT_EQ(Read("traffic: {concurrency: \"8\"}\n", &w),
            "w.yaml:1: traffic.concurrency: must be a number");
  EXPECT_EQ(Read("traffic: {concurrency: .inf}\n", &w),
            "w.yaml:1: traffic.concurrency: must be a finite number");
  EXPECT_EQ(Read("traffic:\n  input_tokens: 3000000000\n", &w),
            "w.yaml:2: traffic.input_tokens: must be an integer");
  EXPECT_EQ(Read("traffic:\n  input_tokens: 1.5\n", &w),
            "w.yaml:2: traffic.input_tokens: must be an integer");
  EXPECT_EQ(Read("precision: fp7\n", &w),
            "w.yaml:1: precision: unknown 'fp7' (one of fp32, bf16, fp16, fp8, int8, int4)");
  EXPECT_EQ(Read("task: fine_tune_lora\n", &w),
            "w.yaml:1: task: unknown 'fine_tune_lora' (one of llm-inference, embedding, "
            "speech-to-text, image-generation, fine-tune-lora, fine-tune-qlora, "
            "fine-tune-full, pretrain)");
  EXPECT_EQ(Read("accelerators: l4\n", &w), "w.yaml:1: accelerators: must be a list, got a scalar");
  EXPECT_EQ(Read("traffic: [1]\n", &w), "w.yaml:1: traffic: must be a mapping, got a list");
  EXPECT_EQ(Read("architecture: {tied_embeddings: yes}\n", &w),
            "w.yaml:1: architecture.tied_embeddings: must be true or false");
}

TEST(YamlMessageTest, SourceMapPointsValidationPathsAtLines) {
  v1::Workload w;
  SourceMap lines;
  ASSERT_EQ(Read("name: chat\nmodel: llama-3-8b\ntraffic:\n  concurrency: 8\n"
                 "  input_tokens: 512\naccelerators:\n  - l4\n  - a100-80gb\n",
                 &w, &lines),
            "");
  EXPECT_EQ(lines.LineOf("name"), 1);
  EXPECT_EQ(lines.LineOf("traffic"), 3);
  EXPECT_EQ(lines.LineOf("traffic.concurrency"), 4);
  EXPECT_EQ(lines.LineOf("traffic.input_tokens"), 5);
  EXPECT_EQ(lines.LineOf("traffic.output_tokens"), 3);  // not given: its parent's line
  EXPECT_EQ(lines.LineOf("accelerators[1]"), 8);
  EXPECT_EQ(lines.LineOf("accelerators[7]"), 6);
  EXPECT_EQ(lines.LineOf("objective"), 0);
  EXPECT_EQ(w.accelerators_size(), 2);
  EXPECT_EQ(w.traffic().concurrency(), 8);
}

TEST(YamlMessageTest, EnumSpellings) {
  EXPECT_EQ(YamlEnumName(*v1::Precision_descriptor()->FindValueByName("PRECISION_FP8")), "fp8");
  EXPECT_EQ(YamlEnumName(*v1::Task_descriptor()->FindValueByName("TASK_FINE_TUNE_QLORA")),
            "fine-tune-qlora");
  EXPECT_EQ(YamlEnumName(*v1::Task_descriptor()->FindValueByName("TASK_UNSPECIFIED")), "");
}

// Every field of every input message has a type the reader handles.
void ExpectReadable(const Descriptor& type, std::set<std::string>* seen) {
  if (!seen->insert(type.full_name()).second) return;
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& f = *type.field(i);
    switch (f.cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        ExpectReadable(*f.message_type(), seen);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_BOOL:
      case FieldDescriptor::CPPTYPE_STRING:
      case FieldDescriptor::CPPTYPE_ENUM:
        break;
      default:
        ADD_FAILURE() << f.full_name() << " has a type yaml_message.cc does not read";
    }
  }
}

TEST(YamlMessageTest, EveryInputMessageIsReadable) {
  std::set<std::string> seen;
  ExpectReadable(*v1::Workload::descriptor(), &seen);
  ExpectReadable(*v1::FleetRequest::descriptor(), &seen);
  EXPECT_GE(seen.size(), 8u);
}

}  // namespace
}  // namespace gpufit::config

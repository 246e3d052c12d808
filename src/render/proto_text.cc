#include "render/proto_text.h"

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::render {
namespace {

// True if YAML would read the plain scalar `s` as something other than a string (null, a
// boolean in YAML 1.1 or 1.2, a number), so a string with this text must be quoted.
bool PlainScalarIsNotString(const std::string& s) {
  if (s.empty()) return true;
  static const char* const kKeywords[] = {"null", "~", "true", "false", "yes",   "no",    "on",
                                          "off",  "y", "n",    ".inf",  "-.inf", "+.inf", ".nan"};
  const std::string lower = absl::AsciiStrToLower(s);
  for (const char* k : kKeywords) {
    if (lower == k) return true;
  }
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end != nullptr && *end == '\0';
}

void EmitYaml(const YAML::Node& node, YAML::Emitter& out) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key << kv.first.Scalar() << YAML::Value;
        EmitYaml(kv.second, out);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) EmitYaml(item, out);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!": in the JSON those are strings.
      if (node.Tag() == "!" && PlainScalarIsNotString(node.Scalar())) {
        out << YAML::DoubleQuoted << node.Scalar();
      } else {
        out << node.Scalar();
      }
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      break;
  }
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  std::string json;
  // Printing fails only for Any with an unresolvable type URL, which gpufit's API has none of.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

std::string ToYaml(const google::protobuf::Message& message) {
  // JSON is YAML (1.2): yaml-cpp reads it as is; re-emitting gives block style.
  const YAML::Node node = YAML::Load(ToJson(message));
  YAML::Emitter out;
  out.SetIndent(2);
  EmitYaml(node, out);
  std::string yaml = out.c_str();
  yaml.push_back('\n');
  return yaml;
}

}  // namespace gpufit::render

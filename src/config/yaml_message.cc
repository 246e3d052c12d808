#include "config/yaml_message.h"

#include <limits>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/status_macros.h"

namespace gpufit::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using internal::Bound;
using internal::FieldPath;
using internal::IndexPath;
using internal::YamlReader;

int LineOf(const YAML::Node& node) {
  return node.IsDefined() && !node.Mark().is_null() ? node.Mark().line + 1 : 0;
}

// The value of an enum field from its YAML spelling; the error lists every spelling.
absl::StatusOr<const EnumValueDescriptor*> ReadEnum(const YamlReader& r, const YAML::Node& node,
                                                    const std::string& path,
                                                    const EnumDescriptor& type) {
  GPUFIT_ASSIGN_OR_RETURN(const std::string text, r.String(node, path));
  std::vector<std::string> names;
  for (int i = 0; i < type.value_count(); ++i) {
    const std::string name = YamlEnumName(*type.value(i));
    if (name.empty()) continue;
    if (name == text) return type.value(i);
    names.push_back(name);
  }
  return r.Error(node, path,
                 absl::StrCat("unknown '", text, "' (one of ", absl::StrJoin(names, ", "), ")"));
}

absl::Status ReadMessage(const YamlReader& r, const YAML::Node& node, const std::string& path,
                         Message* message, SourceMap* lines);

// One scalar or message value of `field` (the element of a repeated field) into `message`.
absl::Status ReadValue(const YamlReader& r, const YAML::Node& node, const std::string& path,
                       const FieldDescriptor& field, Message* message, SourceMap* lines) {
  const Reflection& refl = *message->GetReflection();
  const bool repeated = field.is_repeated();
  if (lines != nullptr) lines->Set(path, LineOf(node));
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub =
          repeated ? refl.AddMessage(message, &field) : refl.MutableMessage(message, &field);
      return ReadMessage(r, node, path, sub, lines);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      GPUFIT_ASSIGN_OR_RETURN(std::string s, r.String(node, path));
      repeated ? refl.AddString(message, &field, std::move(s))
               : refl.SetString(message, &field, std::move(s));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      GPUFIT_ASSIGN_OR_RETURN(const double d, r.Number(node, path, Bound::kAny));
      repeated ? refl.AddDouble(message, &field, d) : refl.SetDouble(message, &field, d);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      GPUFIT_ASSIGN_OR_RETURN(const int v, r.Integer(node, path, std::numeric_limits<int>::min(),
                                                     std::numeric_limits<int>::max()));
      repeated ? refl.AddInt32(message, &field, v) : refl.SetInt32(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      GPUFIT_ASSIGN_OR_RETURN(const bool b, r.Bool(node, path));
      repeated ? refl.AddBool(message, &field, b) : refl.SetBool(message, &field, b);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      GPUFIT_ASSIGN_OR_RETURN(const EnumValueDescriptor* v,
                              ReadEnum(r, node, path, *field.enum_type()));
      repeated ? refl.AddEnum(message, &field, v) : refl.SetEnum(message, &field, v);
      return absl::OkStatus();
    }
    default:
      break;
  }
  // gpufit.v1 input messages use only the types above (yaml_message_test walks them all).
  return r.Error(node, path, "unsupported field type");
}

absl::Status ReadMessage(const YamlReader& r, const YAML::Node& node, const std::string& path,
                         Message* message, SourceMap* lines) {
  GPUFIT_RETURN_IF_ERROR(r.ExpectMap(node, path));
  const Descriptor& type = *message->GetDescriptor();
  std::set<std::string> seen;
  for (YAML::const_iterator it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator's pair is a temporary proxy, so references into it dangle.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) return r.Error(key_node, path, "field names must be plain strings");
    const std::string& key = key_node.Scalar();
    const std::string field_path = FieldPath(path, key);
    const FieldDescriptor* field = type.FindFieldByName(key);
    if (field == nullptr) return r.Error(key_node, field_path, "unknown field");
    if (!seen.insert(key).second) return r.Error(key_node, field_path, "duplicate field");
    // yaml-cpp places an empty value at the next token, often the following line, while the
    // mistake is on the key's line.
    if (value.IsNull()) return r.Error(key_node, field_path, "has no value");
    if (lines != nullptr) lines->Set(field_path, LineOf(key_node));
    if (!field->is_repeated()) {
      GPUFIT_RETURN_IF_ERROR(ReadValue(r, value, field_path, *field, message, lines));
      if (lines != nullptr) lines->Set(field_path, LineOf(key_node));
      continue;
    }
    GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(value, field_path));
    message->GetReflection()->ClearField(message, field);
    for (size_t i = 0; i < value.size(); ++i) {
      GPUFIT_RETURN_IF_ERROR(
          ReadValue(r, value[i], IndexPath(field_path, i), *field, message, lines));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void SourceMap::Set(std::string_view path, int line) {
  if (line > 0) lines_[std::string(path)] = line;
}

int SourceMap::LineOf(std::string_view path) const {
  std::string p(path);
  for (;;) {
    if (auto it = lines_.find(p); it != lines_.end()) return it->second;
    const size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return 0;
    p.resize(cut);
  }
}

std::string YamlEnumName(const EnumValueDescriptor& value) {
  const std::string& name = value.name();
  if (absl::EndsWith(name, "_UNSPECIFIED")) return "";
  // The prefix is the enum's name in UPPER_SNAKE_CASE: Precision -> PRECISION_, the common
  // proto style (https://protobuf.dev/programming-guides/style/#enums).
  std::string prefix;
  for (char c : value.type()->name()) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) && !prefix.empty()) prefix += '_';
    prefix += absl::ascii_toupper(static_cast<unsigned char>(c));
  }
  prefix += '_';
  std::string bare = absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
  return absl::StrReplaceAll(absl::AsciiStrToLower(bare), {{"_", "-"}});
}

absl::Status ReadYamlMessage(const YamlReader& reader, const YAML::Node& node,
                             std::string_view path, Message* message, SourceMap* lines) {
  return ReadMessage(reader, node, std::string(path), message, lines);
}

}  // namespace gpufit::config

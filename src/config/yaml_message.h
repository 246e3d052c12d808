// YAML documents read into gpufit.v1 messages by the messages' own descriptors, so that a YAML
// file and a gRPC request are the same message before anything validates them (one schema:
// proto/gpufit/v1). Keys are the proto field names; the reader is as strict as the hand-written
// readers it replaces: unknown keys, duplicate keys, nulls, quoted numbers, non-finite numbers,
// integers out of their type's range and unknown enum names are errors with FILE:LINE and the
// field path. What a value means (ranges, cross-references, defaults) is not checked here but
// by the one validation every adapter shares, whose errors name field paths; SourceMap turns
// those paths back into lines of the file.
//
// Enum values are spelled in YAML by their value name without the enum's prefix, in lower case
// with '-' for '_': PRECISION_FP8 -> "fp8", TASK_FINE_TUNE_LORA -> "fine-tune-lora". The
// UNSPECIFIED value has no spelling (leave the key out).
#ifndef GPUFIT_CONFIG_YAML_MESSAGE_H_
#define GPUFIT_CONFIG_YAML_MESSAGE_H_

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "config/yaml_reader.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::config {

// The 1-based line each field path of a document was read from ("traffic.concurrency" -> 7,
// "workloads[2]" -> 14). Thread-compatible value type.
class SourceMap {
 public:
  void Set(std::string_view path, int line);
  // The line of `path`, else of its nearest recorded ancestor ("a.b[2].c" -> "a.b[2]" ->
  // "a.b" -> "a"); 0 when none is known.
  int LineOf(std::string_view path) const;
  bool empty() const { return lines_.empty(); }

 private:
  absl::flat_hash_map<std::string, int> lines_;
};

// The YAML spelling of an enum value ("fp8"), "" for a value ending in _UNSPECIFIED.
std::string YamlEnumName(const google::protobuf::EnumValueDescriptor& value);

// Merges the mapping `node` into `message` (fields already set and not in `node` are kept;
// repeated fields given in `node` replace the message's). `path` prefixes field paths in
// errors and in `lines` ("" at the top level). `lines` may be null.
absl::Status ReadYamlMessage(const internal::YamlReader& reader, const YAML::Node& node,
                             std::string_view path, google::protobuf::Message* message,
                             SourceMap* lines);

}  // namespace gpufit::config

#endif  // GPUFIT_CONFIG_YAML_MESSAGE_H_

// Internal to src/config: typed access to yaml-cpp nodes with errors that read
// "FILE:LINE: field.path: reason". Both the catalog and the workload loaders read YAML
// through this so that every config file reports mistakes the same way.
//
// yaml-cpp's own conversions are deliberately not used for scalars: `as<int>` parses "010"
// as octal and silently accepts quoted strings, and `as<double>` accepts ".nan"/".inf".
// Numbers are parsed here with absl, finite-checked and range-checked.
#ifndef GPUFIT_CONFIG_YAML_READER_H_
#define GPUFIT_CONFIG_YAML_READER_H_

#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/model.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::config::internal {

// Debian's abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// 0), which absl::StrCat does not accept as std::string_view; this bridges the two.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

// Allowed range of a number field; the reason text is what the error message says.
enum class Bound {
  kAny,
  kNonNegative,  // >= 0
  kPositive,     // > 0
  kFraction,     // (0, 1]: efficiencies and utilisations
};

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string FieldPath(std::string_view parent, std::string_view key);
// "a" + 2 -> "a[2]".
std::string IndexPath(std::string_view parent, size_t index);

// The largest file ReadFileToString reads by default. Every file gpufit reads is YAML, JSON or
// PEM its operator wrote, a few hundred bytes per workload (configs/catalog.yaml, the whole
// default catalog, is 30 KiB), so 8 MiB is ample and bounds what a wrong path (a log file, a
// disk image) can make a reload allocate.
inline constexpr size_t kMaxConfigFileBytes = size_t{8} << 20;

// Reads a whole regular file of at most `max_bytes`, the way every config, catalog, workload,
// fleet, benchmark, TLS and token file is read. The file is opened with O_NONBLOCK, so that a
// FIFO cannot block the reader (a config reload holding up SIGHUP and SIGTERM), and the
// opened descriptor is checked to be a regular file: a FIFO, a device (a symlink to
// /dev/zero would be read forever), a socket or a directory is refused. Symlinks to regular
// files are followed (Kubernetes ConfigMap and Secret volumes are symlinks). Every failure is
// NOT_FOUND "PATH: cannot read: <why>", because the caller's remedy is the same (fix the path
// or the permissions): "No such file or directory", "is a FIFO (named pipe), not a regular
// file", "is a directory, not a regular file", "larger than the 8388608-byte cap ...".
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes = kMaxConfigFileBytes);

// Stateless apart from the file name used in messages; cheap to construct, thread-compatible.
class YamlReader {
 public:
  explicit YamlReader(std::string_view filename) : filename_(filename) {}

  const std::string& filename() const { return filename_; }

  // Parses the first YAML document of `text` and requires a mapping at top level.
  // `what` names the expected content for the empty-document message ("workload").
  absl::StatusOr<YAML::Node> ParseTopLevelMap(std::string_view text, std::string_view what) const;

  // INVALID_ARGUMENT "FILE:LINE: path: reason". The line is the node's (1-based); nodes
  // without a position (never the case for parsed nodes) omit it.
  absl::Status Error(const YAML::Node& node, std::string_view path, std::string_view reason) const;

  // Visits each entry of the mapping `node` in file order. Keys outside `known` are errors
  // ("path.key: unknown field"), as are duplicate keys, which yaml-cpp would otherwise accept
  // with the first one silently winning. `fn` receives the key, its value and "path.key".
  using FieldFn = absl::FunctionRef<absl::Status(std::string_view key, const YAML::Node& value,
                                                 const std::string& field_path)>;
  absl::Status ForEachField(const YAML::Node& node, std::string_view path,
                            std::initializer_list<std::string_view> known, FieldFn fn) const;

  absl::Status ExpectMap(const YAML::Node& node, std::string_view path) const;
  absl::Status ExpectSequence(const YAML::Node& node, std::string_view path) const;

  // A finite number within `bound` and <= `max` (core/limits.h has the field's bound).
  // Quoted strings are rejected so that `"8"` is not mistaken for a number the author meant
  // as text (or vice versa).
  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view path,
                                Bound bound = Bound::kAny,
                                double max = std::numeric_limits<double>::max()) const;
  // A decimal integer >= `min` (and <= `max`).
  absl::StatusOr<int> Integer(const YAML::Node& node, std::string_view path, int min,
                              int max = std::numeric_limits<int>::max()) const;
  absl::StatusOr<bool> Bool(const YAML::Node& node, std::string_view path) const;
  // A non-empty scalar.
  absl::StatusOr<std::string> String(const YAML::Node& node, std::string_view path) const;
  absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node,
                                                      std::string_view path) const;

  // A string that `parse` accepts; otherwise "unknown 'x' (one of a, b, c)" listing
  // `names(value)` for every value in `all`, so the list never drifts from the core's names.
  template <typename E, typename ParseFn, typename NameFn>
  absl::StatusOr<E> Enum(const YAML::Node& node, std::string_view path, ParseFn parse, NameFn names,
                         std::initializer_list<E> all) const {
    absl::StatusOr<std::string> text = String(node, path);
    if (!text.ok()) return text.status();
    std::optional<E> value = parse(*text);
    if (value.has_value()) return *value;
    std::vector<std::string> choices;
    for (E e : all) choices.emplace_back(names(e));
    return Error(node, path,
                 "unknown '" + *text + "' (one of " + absl::StrJoin(choices, ", ") + ")");
  }

 private:
  std::string filename_;
};

// Merges the fields present in the mapping `node` into `*arch` (the `architecture:` block
// shared by catalog presets and inline workload models). Names of the fields given are
// added to `*given` when it is not null, so callers can require some for new entries.
absl::Status ReadArchitecture(const YamlReader& reader, const YAML::Node& node,
                              std::string_view path, core::ModelArchitecture* arch,
                              std::set<std::string>* given);

}  // namespace gpufit::config::internal

#endif  // GPUFIT_CONFIG_YAML_READER_H_

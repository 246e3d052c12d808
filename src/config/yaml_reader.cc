#include "config/yaml_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace gpufit::config::internal {
namespace {

// Plain scalars get the non-specific tag "?" and quoted ones "!" (YAML spec 6.9.1;
// yaml-cpp follows it), which is how a quoted "8" is told apart from the number 8.
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// Closes the descriptor it holds (-1: none).
struct ScopedFd {
  explicit ScopedFd(int f) : fd(f) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd >= 0) ::close(fd);
  }
  const int fd;
};

// What a file that is not a regular file is, for the error message.
std::string_view FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISFIFO(mode)) return "is a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "is a character device";
  if (S_ISBLK(mode)) return "is a block device";
  if (S_ISSOCK(mode)) return "is a socket";
  return "is not a regular file";
}

std::string_view NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

}  // namespace

std::string FieldPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(AsAbsl(parent), ".", AsAbsl(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(AsAbsl(parent), "[", index, "]");
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  const auto cannot_read = [&path](std::string_view why) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", AsAbsl(why)));
  };
  const auto too_large = [&cannot_read, max_bytes] {
    return cannot_read(
        absl::StrCat("larger than the ", max_bytes, "-byte cap on the files gpufit reads"));
  };
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const ScopedFd file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  const int fd = file.fd;
  if (fd < 0) return cannot_read(std::strerror(errno));
  // The opened file, not the path: it cannot be swapped between the check and the read.
  struct stat st {};
  if (::fstat(fd, &st) != 0) return cannot_read(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) {
    return cannot_read(absl::StrCat(AsAbsl(FileKind(st.st_mode)), ", not a regular file"));
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string contents;
  contents.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 14];
  // Up to one byte past the cap, whatever st_size said: the file may grow while it is read,
  // and /proc-like files report size 0.
  while (contents.size() <= max_bytes) {
    const size_t want = std::min(sizeof(buffer), max_bytes + 1 - contents.size());
    const ssize_t n = ::read(fd, buffer, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cannot_read(std::strerror(errno));
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  if (contents.size() > max_bytes) return too_large();
  return contents;
}

absl::StatusOr<YAML::Node> YamlReader::ParseTopLevelMap(std::string_view text,
                                                        std::string_view what) const {
  // yaml-cpp passes any bytes through, but YAML is Unicode and these strings end up in
  // metric labels and JSON, where invalid UTF-8 breaks the consumer (a Prometheus scrape).
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    size_t line = 1;
    for (size_t begin = 0; begin < text.size(); ++line) {
      size_t end = text.find('\n', begin);
      if (end == std::string_view::npos) end = text.size();
      if (!simdjson::validate_utf8(text.data() + begin, end - begin)) break;
      begin = end + 1;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(filename_, ":", line, ": invalid UTF-8 (YAML files must be UTF-8)"));
  }
  YAML::Node root;
  try {
    root.reset(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based; editors count lines from 1.
    const std::string where =
        e.mark.is_null() ? filename_ : absl::StrCat(filename_, ":", e.mark.line + 1);
    return absl::InvalidArgumentError(absl::StrCat(where, ": invalid YAML: ", e.msg));
  }
  if (!root.IsDefined() || root.IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename_, ": empty document (expected a mapping of ", AsAbsl(what), " fields)"));
  }
  if (!root.IsMap()) {
    return Error(root, "",
                 absl::StrCat("expected a mapping of ", AsAbsl(what), " fields at top level, got ",
                              AsAbsl(NodeKind(root))));
  }
  return root;
}

absl::Status YamlReader::Error(const YAML::Node& node, std::string_view path,
                               std::string_view reason) const {
  std::string where = filename_;
  if (node.IsDefined() && !node.Mark().is_null()) {
    absl::StrAppend(&where, ":", node.Mark().line + 1);
  }
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", AsAbsl(reason)));
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", AsAbsl(path), ": ", AsAbsl(reason)));
}

absl::Status YamlReader::ExpectMap(const YAML::Node& node, std::string_view path) const {
  if (node.IsMap()) return absl::OkStatus();
  return Error(node, path, absl::StrCat("must be a mapping, got ", AsAbsl(NodeKind(node))));
}

absl::Status YamlReader::ExpectSequence(const YAML::Node& node, std::string_view path) const {
  if (node.IsSequence()) return absl::OkStatus();
  return Error(node, path, absl::StrCat("must be a list, got ", AsAbsl(NodeKind(node))));
}

absl::Status YamlReader::ForEachField(const YAML::Node& node, std::string_view path,
                                      std::initializer_list<std::string_view> known,
                                      FieldFn fn) const {
  if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
  std::set<std::string> seen;
  for (YAML::const_iterator it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator's pair is a temporary proxy, so references into it dangle.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      return Error(key_node, path, "field names must be plain strings");
    }
    const std::string& key = key_node.Scalar();
    const std::string field_path = FieldPath(path, key);
    bool is_known = false;
    for (std::string_view k : known) is_known = is_known || k == key;
    if (!is_known) return Error(key_node, field_path, "unknown field");
    if (!seen.insert(key).second) return Error(key_node, field_path, "duplicate field");
    // No field accepts null. Checked here because yaml-cpp places an empty value at the
    // next token, often the following line, while the mistake is on the key's line.
    if (value.IsNull()) return Error(key_node, field_path, "has no value");
    if (absl::Status s = fn(key, value, field_path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<double> YamlReader::Number(const YAML::Node& node, std::string_view path,
                                          Bound bound, double max) const {
  double value = 0;
  if (!node.IsScalar() || IsQuoted(node)) return Error(node, path, "must be a number");
  const std::string lowered = absl::AsciiStrToLower(node.Scalar());
  // YAML spells the special values .nan/.inf; strtod spells them nan/inf. Either way the
  // model cannot use them, and "must be finite" says why better than "not a number".
  if (lowered == ".nan" || lowered == ".inf" || lowered == "+.inf" || lowered == "-.inf") {
    return Error(node, path, "must be a finite number");
  }
  if (!absl::SimpleAtod(node.Scalar(), &value)) return Error(node, path, "must be a number");
  if (!std::isfinite(value)) return Error(node, path, "must be a finite number");
  switch (bound) {
    case Bound::kAny:
      break;
    case Bound::kNonNegative:
      if (value < 0) return Error(node, path, "must be >= 0");
      break;
    case Bound::kPositive:
      if (value <= 0) return Error(node, path, "must be > 0");
      break;
    case Bound::kFraction:
      if (value <= 0 || value > 1) return Error(node, path, "must be in (0, 1]");
      break;
  }
  if (value > max) return Error(node, path, absl::StrCat("must be <= ", max));
  return value;
}

absl::StatusOr<int> YamlReader::Integer(const YAML::Node& node, std::string_view path, int min,
                                        int max) const {
  int value = 0;
  if (!node.IsScalar() || IsQuoted(node) || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return Error(node, path, "must be an integer");
  }
  if (value < min) {
    return Error(node, path,
                 min == 1 ? std::string("must be > 0") : absl::StrCat("must be >= ", min));
  }
  if (value > max) return Error(node, path, absl::StrCat("must be <= ", max));
  return value;
}

absl::StatusOr<bool> YamlReader::Bool(const YAML::Node& node, std::string_view path) const {
  if (node.IsScalar() && !IsQuoted(node)) {
    const std::string lowered = absl::AsciiStrToLower(node.Scalar());
    if (lowered == "true") return true;
    if (lowered == "false") return false;
  }
  return Error(node, path, "must be true or false");
}

absl::StatusOr<std::string> YamlReader::String(const YAML::Node& node,
                                               std::string_view path) const {
  if (!node.IsScalar()) return Error(node, path, "must be a string");
  if (node.Scalar().empty()) return Error(node, path, "must not be empty");
  return node.Scalar();
}

absl::StatusOr<std::vector<std::string>> YamlReader::StringList(const YAML::Node& node,
                                                                std::string_view path) const {
  if (absl::Status s = ExpectSequence(node, path); !s.ok()) return s;
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) {
    absl::StatusOr<std::string> item = String(node[i], IndexPath(path, i));
    if (!item.ok()) return item.status();
    out.push_back(*std::move(item));
  }
  return out;
}

absl::Status ReadArchitecture(const YamlReader& reader, const YAML::Node& node,
                              std::string_view path, core::ModelArchitecture* arch,
                              std::set<std::string>* given) {
  // Counts use 0 for "not applicable / derive it" (core::ModelArchitecture), so >= 0.
  auto set_int = [&](const YAML::Node& v, const std::string& p, int* out) -> absl::Status {
    absl::StatusOr<int> n = reader.Integer(v, p, 0);
    if (!n.ok()) return n.status();
    *out = *n;
    return absl::OkStatus();
  };
  absl::Status status = reader.ForEachField(
      node, path,
      {"parameters_billion", "layers", "hidden_size", "intermediate_size", "attention_heads",
       "kv_heads", "head_dim", "vocab_size", "tied_embeddings", "sliding_window_tokens", "experts",
       "active_experts", "active_parameters_billion"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        if (given != nullptr) given->insert(std::string(key));
        if (key == "parameters_billion" || key == "active_parameters_billion") {
          absl::StatusOr<double> x = reader.Number(v, p, Bound::kPositive);
          if (!x.ok()) return x.status();
          (key == "parameters_billion" ? arch->parameters_billion
                                       : arch->active_parameters_billion) = *x;
          return absl::OkStatus();
        }
        if (key == "tied_embeddings") {
          absl::StatusOr<bool> b = reader.Bool(v, p);
          if (!b.ok()) return b.status();
          arch->tied_embeddings = *b;
          return absl::OkStatus();
        }
        if (key == "layers") return set_int(v, p, &arch->layers);
        if (key == "hidden_size") return set_int(v, p, &arch->hidden_size);
        if (key == "intermediate_size") return set_int(v, p, &arch->intermediate_size);
        if (key == "attention_heads") return set_int(v, p, &arch->attention_heads);
        if (key == "kv_heads") return set_int(v, p, &arch->kv_heads);
        if (key == "head_dim") return set_int(v, p, &arch->head_dim);
        if (key == "vocab_size") return set_int(v, p, &arch->vocab_size);
        if (key == "sliding_window_tokens") return set_int(v, p, &arch->sliding_window_tokens);
        if (key == "experts") return set_int(v, p, &arch->experts);
        return set_int(v, p, &arch->active_experts);
      });
  if (!status.ok()) return status;

  // Cross-field shape checks that need nothing but the block itself; the line is the
  // block's, since either field may be the wrong one.
  if (arch->kv_heads > 0 && arch->attention_heads > 0 && arch->kv_heads > arch->attention_heads) {
    return reader.Error(node, FieldPath(path, "kv_heads"),
                        absl::StrCat("must be <= attention_heads (", arch->attention_heads, ")"));
  }
  if (arch->active_experts > arch->experts) {
    return reader.Error(node, FieldPath(path, "active_experts"),
                        absl::StrCat("must be <= experts (", arch->experts, ")"));
  }
  if (arch->active_parameters_billion > 0 && arch->parameters_billion > 0 &&
      arch->active_parameters_billion > arch->parameters_billion) {
    return reader.Error(node, FieldPath(path, "active_parameters_billion"),
                        "must be <= parameters_billion");
  }
  return absl::OkStatus();
}

}  // namespace gpufit::config::internal

#include "cli/command_line.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gpufit::cli {

std::string CommandLine::Get(std::string_view flag, std::string_view fallback) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? std::string(fallback) : it->second;
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             std::string_view command,
                                             const std::vector<FlagSpec>& specs) {
  CommandLine parsed;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      parsed.positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    // Split "--name=value" / "--name" / "-x".
    std::string name;
    std::string inline_value;
    bool has_inline_value = false;
    const FlagSpec* spec = nullptr;
    if (absl::StartsWith(arg, "--")) {
      name = arg.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
        has_inline_value = true;
      }
      for (const FlagSpec& s : specs) {
        if (s.name == name) spec = &s;
      }
    } else if (arg.size() == 2) {
      for (const FlagSpec& s : specs) {
        if (s.short_name != 0 && s.short_name == arg[1]) spec = &s;
      }
    }
    if (spec == nullptr) {
      const absl::string_view cmd(command.data(), command.size());
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "' for 'gpufit ", cmd,
                                                     "'; see 'gpufit help ", cmd, "'"));
    }
    const std::string display = absl::StrCat("--", spec->name);
    if (parsed.flags_.count(spec->name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(display, ": given more than once"));
    }
    std::string value;
    if (spec->takes_value) {
      if (has_inline_value) {
        value = inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat(display, ": missing value"));
      }
    } else if (has_inline_value) {
      return absl::InvalidArgumentError(absl::StrCat(display, ": takes no value"));
    }
    parsed.flags_.emplace(spec->name, std::move(value));
  }
  return parsed;
}

}  // namespace gpufit::cli

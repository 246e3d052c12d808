// Parses one subcommand's arguments (`plan chat.yaml --output json`) against the flags it
// accepts. Hand-written rather than absl::flags because the flags are per subcommand and
// absl::flags keeps process-global state, which would leak between in-process RunCli calls
// in tests. Accepted forms: `--name value`, `--name=value`, `-x value`, `--switch`, and `--`
// to end the flags.
#ifndef GPUFIT_CLI_COMMAND_LINE_H_
#define GPUFIT_CLI_COMMAND_LINE_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gpufit::cli {

struct FlagSpec {
  std::string name;     // long name without dashes: "output"
  char short_name = 0;  // 'o' for -o; 0 = none
  bool takes_value = true;
};

// The parsed arguments of one subcommand. Value type.
class CommandLine {
 public:
  const std::vector<std::string>& positionals() const { return positionals_; }
  bool Has(std::string_view flag) const { return flags_.find(flag) != flags_.end(); }
  // The flag's value, or `fallback` if it was not given.
  std::string Get(std::string_view flag, std::string_view fallback = "") const;

 private:
  friend absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                                      std::string_view command,
                                                      const std::vector<FlagSpec>& specs);
  std::vector<std::string> positionals_;
  std::map<std::string, std::string, std::less<>> flags_;
};

// INVALID_ARGUMENT for an unknown flag, a missing value or a flag given twice; messages
// name the flag and `command` ("unknown flag '--foo' for 'gpufit plan'").
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             std::string_view command,
                                             const std::vector<FlagSpec>& specs);

}  // namespace gpufit::cli

#endif  // GPUFIT_CLI_COMMAND_LINE_H_

// The `gpufit` command line: plan, predict, catalog, validate, help, version. A library so
// that tests can run it in-process with string streams; gpufit_main.cc only forwards to it.
// Each call is independent (no global state besides the shared default catalog), so
// concurrent calls with different streams are safe.
#ifndef GPUFIT_CLI_CLI_H_
#define GPUFIT_CLI_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace gpufit::cli {

// Exit codes. Scripts branch on them: 2 means "fix your input", 1 means "report a bug".
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternalError = 1;
inline constexpr int kExitBadInput = 2;

// Runs the command in `argv[1..argc)` (argv[0], the program name, is ignored). Results go
// to `out`; on failure exactly one line "gpufit: <message>" goes to `err`, where the
// message is the Status message (it leads with FILE:LINE: field.path where there is one).
// Never throws.
int RunCli(int argc, const char* const argv[], std::ostream& out, std::ostream& err);
// The same with the arguments after the program name.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gpufit::cli

#endif  // GPUFIT_CLI_CLI_H_

#include "cli/cli.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string_view>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "api/fleet_conversion.h"
#include "api/proto_conversion.h"
#include "cli/command_line.h"
#include "config/catalog_loader.h"
#include "config/fleet_loader.h"
#include "config/workload_loader.h"
#include "core/catalog.h"
#include "core/fleet_planner.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "core/status_macros.h"
#include "core/workload.h"
#include "render/decision_text.h"
#include "render/fleet_text.h"
#include "render/mig_parted.h"
#include "render/proto_text.h"

namespace gpufit::cli {
namespace {

// Keep in step with project(VERSION) in CMakeLists.txt.
constexpr std::string_view kVersion = GPUFIT_VERSION;  // from project(VERSION) in CMakeLists.txt

constexpr std::string_view kUsage =
    R"(gpufit: which GPU or MIG slice an inference workload should run on, how many
replicas, what it costs, and why the other options lost.

Usage:
  gpufit plan WORKLOAD.yaml [--output table|json|yaml] [--catalog FILE]
      The recommendation, then every option ranked; rejected options with the reason.
  gpufit predict WORKLOAD.yaml --accelerator ID [--gpus N] [--output table|json|yaml]
                 [--catalog FILE]
      Throughput, latency, memory, replicas and cost on one accelerator
      (N GPUs per replica with tensor parallelism; default: the fewest that fit).
  gpufit catalog [--output table|json|yaml] [--catalog FILE]
      Accelerators (GPUs and MIG slices) with specs and prices, and model presets.
  gpufit validate FILE [--catalog FILE]
      Checks a workload file (against the catalog) or a catalog overlay file.
  gpufit fleet FLEET.yaml [--output table|json|yaml] [--mig-config FILE] [--catalog FILE]
      The cheapest GPU mix (MIG layouts included) serving every workload of a fleet.
  gpufit help [COMMAND] | gpufit --help | gpufit --version

Flags:
  -o, --output FORMAT   table (default), json or yaml (proto3 JSON of gpufit.v1 messages)
  --catalog FILE        overlay on the built-in catalog (prices, extra GPUs, presets, policy)

Exit codes: 0 ok, 2 bad input (the one line on stderr says which field), 1 internal error.
)";

constexpr std::string_view kPlanHelp =
    R"(Usage: gpufit plan WORKLOAD.yaml [--output table|json|yaml] [--catalog FILE]

Evaluates every accelerator and tensor-parallel degree for the workload, rejects those that
cannot serve it (memory, latency target, capability), sizes replicas for the target traffic,
prices them, and ranks the rest by the workload's objective (cost, latency or throughput).
)";

constexpr std::string_view kPredictHelp =
    R"(Usage: gpufit predict WORKLOAD.yaml --accelerator ID [--gpus N] [--output table|json|yaml]
                      [--catalog FILE]

Predicts one configuration: output tokens/s, TTFT, TPOT, memory breakdown, max concurrency
at the SLO, replicas and cost. ID is an accelerator id from `gpufit catalog` (e.g. l4 or
a100-80gb/3g.40gb); N is the tensor-parallel degree (default: the fewest GPUs that fit).
)";

constexpr std::string_view kCatalogHelp =
    R"(Usage: gpufit catalog [--output table|json|yaml] [--catalog FILE]

Lists the accelerators (whole GPUs, then their MIG slices) with memory, bandwidth, tensor
throughput, power, NVLink and price, then the model presets.
)";

constexpr std::string_view kValidateHelp = R"txt(Usage: gpufit validate FILE [--catalog FILE]

Checks a workload file (syntax, fields, and the model/accelerators against the catalog) or a
catalog overlay file (decided by its top-level keys). Prints "FILE: ok (...)" on success.
)txt";

constexpr std::string_view kFleetHelp =
    R"(Usage: gpufit fleet FLEET.yaml [--output table|json|yaml] [--mig-config FILE] [--catalog FILE]

Plans the cheapest fleet for many workloads: per workload the accelerator(s), GPUs per replica
and replicas; per GPU type the count and the MIG layout of each physical GPU; the cost against
the best single-type fleet. Exact MIP (COIN-OR CBC) under the file's solver time limit, with
the optimality gap reported. --mig-config writes the layouts as an NVIDIA mig-parted config.
)";

enum class OutputFormat { kTable, kJson, kYaml };

const FlagSpec kHelpFlag{"help", 'h', false};
const FlagSpec kOutputFlag{"output", 'o', true};
const FlagSpec kCatalogFlag{"catalog", 0, true};

absl::StatusOr<OutputFormat> ParseOutputFormat(const CommandLine& cl) {
  const std::string value = cl.Get("output", "table");
  if (value == "table") return OutputFormat::kTable;
  if (value == "json") return OutputFormat::kJson;
  if (value == "yaml") return OutputFormat::kYaml;
  return absl::InvalidArgumentError(
      absl::StrCat("--output: must be table, json or yaml; got '", value, "'"));
}

void WriteMessage(const google::protobuf::Message& message, OutputFormat format,
                  std::ostream& out) {
  out << (format == OutputFormat::kYaml ? render::ToYaml(message) : render::ToJson(message));
}

// Exactly one positional argument, the file the command reads.
absl::StatusOr<std::string> OneFileArgument(const CommandLine& cl, absl::string_view command,
                                            absl::string_view what) {
  if (cl.positionals().size() == 1) return cl.positionals()[0];
  if (cl.positionals().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("gpufit ", command, ": missing ", what,
                                                   " argument; see 'gpufit help ", command, "'"));
  }
  return absl::InvalidArgumentError(absl::StrCat("gpufit ", command, ": expects one ", what,
                                                 " argument, got ", cl.positionals().size(), " (",
                                                 absl::StrJoin(cl.positionals(), " "), ")"));
}

// The catalog in force: the built-in one, or the built-in one overlaid with --catalog.
absl::StatusOr<std::shared_ptr<const core::Catalog>> CatalogFor(const CommandLine& cl) {
  if (cl.Has("catalog")) return config::LoadCatalogFile(cl.Get("catalog"));
  std::shared_ptr<const core::Catalog> catalog = config::DefaultCatalog();
  if (catalog == nullptr) return absl::InternalError("the built-in catalog failed to load");
  return catalog;
}

// Semantic errors from core::ResolveWorkload name the field but not the file; add it. The
// field paths are resolved with an empty prefix so that they read like the YAML loader's
// ("chat.yaml: model: unknown model ..."), i.e. as keys of the file.
absl::Status InFile(const absl::Status& status, absl::string_view path) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

absl::StatusOr<core::ResolvedWorkload> LoadAndResolve(const std::string& path,
                                                      const core::Catalog& catalog) {
  GPUFIT_ASSIGN_OR_RETURN(core::Workload workload, config::LoadWorkloadFile(path));
  absl::StatusOr<core::ResolvedWorkload> resolved =
      core::ResolveWorkload(workload, catalog, /*field_prefix=*/"");
  if (!resolved.ok()) return InFile(resolved.status(), path);
  return resolved;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// --- Commands ----------------------------------------------------------------------------------

absl::Status Plan(const std::vector<std::string>& args, std::ostream& out) {
  GPUFIT_ASSIGN_OR_RETURN(CommandLine cl,
                          ParseCommandLine(args, "plan", {kHelpFlag, kOutputFlag, kCatalogFlag}));
  if (cl.Has("help")) {
    out << kPlanHelp;
    return absl::OkStatus();
  }
  GPUFIT_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(cl));
  GPUFIT_ASSIGN_OR_RETURN(std::string path, OneFileArgument(cl, "plan", "WORKLOAD.yaml"));
  GPUFIT_ASSIGN_OR_RETURN(std::shared_ptr<const core::Catalog> catalog, CatalogFor(cl));
  GPUFIT_ASSIGN_OR_RETURN(core::ResolvedWorkload workload, LoadAndResolve(path, *catalog));
  const core::Decision decision = core::Place(workload, *catalog);
  const gpufit::v1::Decision proto = api::ToProto(decision, workload.objective, catalog->version());
  if (format == OutputFormat::kTable) {
    render::RenderDecision(proto, out);
  } else {
    WriteMessage(proto, format, out);
  }
  return absl::OkStatus();
}

absl::Status Predict(const std::vector<std::string>& args, std::ostream& out) {
  GPUFIT_ASSIGN_OR_RETURN(
      CommandLine cl,
      ParseCommandLine(
          args, "predict",
          {kHelpFlag, kOutputFlag, kCatalogFlag, {"accelerator", 'a', true}, {"gpus", 0, true}}));
  if (cl.Has("help")) {
    out << kPredictHelp;
    return absl::OkStatus();
  }
  GPUFIT_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(cl));
  GPUFIT_ASSIGN_OR_RETURN(std::string path, OneFileArgument(cl, "predict", "WORKLOAD.yaml"));
  if (!cl.Has("accelerator") || cl.Get("accelerator").empty()) {
    return absl::InvalidArgumentError(
        "--accelerator: required (an id from 'gpufit catalog', e.g. l4 or a100-80gb/3g.40gb)");
  }
  const std::string accelerator_id = cl.Get("accelerator");
  int gpus = 0;  // 0 = the core picks the fewest GPUs that fit
  if (cl.Has("gpus") && (!absl::SimpleAtoi(cl.Get("gpus"), &gpus) || gpus < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gpus: must be a positive integer; got '", cl.Get("gpus"), "'"));
  }
  GPUFIT_ASSIGN_OR_RETURN(std::shared_ptr<const core::Catalog> catalog, CatalogFor(cl));
  if (catalog->FindAccelerator(accelerator_id) == nullptr) {
    std::vector<std::string> gpu_ids;
    for (const core::Accelerator& a : catalog->accelerators()) {
      if (!a.is_mig_slice()) gpu_ids.push_back(a.id);
    }
    return absl::NotFoundError(absl::StrCat("--accelerator: unknown accelerator '", accelerator_id,
                                            "'; known GPUs: ", absl::StrJoin(gpu_ids, ", "),
                                            " (MIG slices as GPU/PROFILE, see 'gpufit catalog')"));
  }
  GPUFIT_ASSIGN_OR_RETURN(core::ResolvedWorkload workload, LoadAndResolve(path, *catalog));
  GPUFIT_ASSIGN_OR_RETURN(core::Option option,
                          core::PredictOption(workload, *catalog, accelerator_id, gpus));
  const gpufit::v1::Option proto = api::ToProto(option);
  if (format != OutputFormat::kTable) {
    WriteMessage(proto, format, out);
    return absl::OkStatus();
  }
  // What $/1M counts depends on the task; Place() is where the core decides it, and it
  // costs microseconds, so ask it rather than restate the rule here.
  const std::string unit = core::Place(workload, *catalog).unit;
  render::RenderPrediction(proto, workload.name, unit, out);
  return absl::OkStatus();
}

absl::Status Catalog(const std::vector<std::string>& args, std::ostream& out) {
  GPUFIT_ASSIGN_OR_RETURN(
      CommandLine cl, ParseCommandLine(args, "catalog", {kHelpFlag, kOutputFlag, kCatalogFlag}));
  if (cl.Has("help")) {
    out << kCatalogHelp;
    return absl::OkStatus();
  }
  GPUFIT_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(cl));
  if (!cl.positionals().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpufit catalog: takes no arguments, got '", cl.positionals()[0], "'"));
  }
  GPUFIT_ASSIGN_OR_RETURN(std::shared_ptr<const core::Catalog> catalog, CatalogFor(cl));
  if (format == OutputFormat::kTable) {
    render::RenderCatalog(*catalog, out);
  } else {
    WriteMessage(api::ToProto(*catalog), format, out);
  }
  return absl::OkStatus();
}

absl::Status Validate(const std::vector<std::string>& args, std::ostream& out) {
  GPUFIT_ASSIGN_OR_RETURN(CommandLine cl,
                          ParseCommandLine(args, "validate", {kHelpFlag, kCatalogFlag}));
  if (cl.Has("help")) {
    out << kValidateHelp;
    return absl::OkStatus();
  }
  GPUFIT_ASSIGN_OR_RETURN(std::string path, OneFileArgument(cl, "validate", "FILE"));
  GPUFIT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (config::LooksLikeCatalog(text)) {
    GPUFIT_ASSIGN_OR_RETURN(std::shared_ptr<const core::Catalog> catalog,
                            config::LoadCatalogOverlay(text, path));
    size_t gpus = 0;
    for (const core::Accelerator& a : catalog->accelerators()) gpus += a.is_mig_slice() ? 0 : 1;
    out << path << ": ok (catalog overlay; in force: version " << catalog->version() << ", " << gpus
        << " GPUs, " << catalog->accelerators().size() - gpus << " MIG slices, "
        << catalog->presets().size() << " presets)\n";
    return absl::OkStatus();
  }
  GPUFIT_ASSIGN_OR_RETURN(core::Workload workload, config::ParseWorkloadYaml(text, path));
  GPUFIT_ASSIGN_OR_RETURN(std::shared_ptr<const core::Catalog> catalog, CatalogFor(cl));
  absl::StatusOr<core::ResolvedWorkload> resolved =
      core::ResolveWorkload(workload, *catalog, /*field_prefix=*/"");
  if (!resolved.ok()) return InFile(resolved.status(), path);
  out << path << ": ok (workload '" << resolved->name << "')\n";
  return absl::OkStatus();
}

absl::Status Fleet(const std::vector<std::string>& args, std::ostream& out) {
  GPUFIT_ASSIGN_OR_RETURN(
      CommandLine cl,
      ParseCommandLine(args, "fleet",
                       {kHelpFlag, kOutputFlag, kCatalogFlag, {"mig-config", 0, true}}));
  if (cl.Has("help")) {
    out << kFleetHelp;
    return absl::OkStatus();
  }
  GPUFIT_ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(cl));
  GPUFIT_ASSIGN_OR_RETURN(std::string path, OneFileArgument(cl, "fleet", "FLEET.yaml"));
  GPUFIT_ASSIGN_OR_RETURN(std::shared_ptr<const core::Catalog> catalog, CatalogFor(cl));
  GPUFIT_ASSIGN_OR_RETURN(core::FleetRequest request, config::LoadFleetFile(path));
  absl::StatusOr<core::FleetPlan> plan = core::PlanFleet(request, *catalog);
  if (!plan.ok()) return InFile(plan.status(), path);
  if (cl.Has("mig-config")) {
    std::ofstream file(cl.Get("mig-config"));
    file << render::MigPartedConfig(*plan);
    if (!file) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mig-config: cannot write '", cl.Get("mig-config"), "'"));
    }
  }
  if (format == OutputFormat::kTable) {
    render::RenderFleetTable(*plan, out);
  } else {
    const gpufit::v1::FleetPlan message = api::ToProto(*plan);
    out << (format == OutputFormat::kJson ? render::ToJson(message) : render::ToYaml(message));
  }
  return absl::OkStatus();
}

absl::Status Help(const std::vector<std::string>& args, std::ostream& out) {
  if (args.empty()) {
    out << kUsage;
    return absl::OkStatus();
  }
  if (args.size() > 1) {
    return absl::InvalidArgumentError("gpufit help: expects at most one COMMAND argument");
  }
  const std::string& topic = args[0];
  if (topic == "plan") {
    out << kPlanHelp;
  } else if (topic == "predict") {
    out << kPredictHelp;
  } else if (topic == "catalog") {
    out << kCatalogHelp;
  } else if (topic == "validate") {
    out << kValidateHelp;
  } else if (topic == "fleet") {
    out << kFleetHelp;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("gpufit help: unknown command '", topic,
                     "'; commands: plan, predict, catalog, validate, fleet"));
  }
  return absl::OkStatus();
}

absl::Status Dispatch(const std::vector<std::string>& args, std::ostream& out) {
  if (args.empty()) {
    return absl::InvalidArgumentError("missing command; see 'gpufit --help'");
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "plan") return Plan(rest, out);
  if (command == "predict") return Predict(rest, out);
  if (command == "catalog") return Catalog(rest, out);
  if (command == "validate") return Validate(rest, out);
  if (command == "fleet") return Fleet(rest, out);
  if (command == "help" || command == "--help" || command == "-h") return Help(rest, out);
  if (command == "version" || command == "--version") {
    out << "gpufit " << kVersion << '\n';
    return absl::OkStatus();
  }
  if (!command.empty() && command[0] == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flag '", command, "'; see 'gpufit --help'"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown command '", command, "'; commands: plan, predict, catalog, validate, fleet, help"));
}

// Bad input (2) versus a fault in gpufit itself (1), by what the caller should do.
int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnimplemented:
      return kExitInternalError;
    default:
      return kExitBadInput;
  }
}

// The message on one line: scripts and people read the first stderr line only.
std::string OneLine(absl::string_view message) {
  return absl::StrReplaceAll(message, {{"\r\n", "; "}, {"\n", "; "}, {"\r", " "}});
}

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    // Buffer the result so that a failure half-way prints nothing on stdout.
    std::ostringstream buffer;
    const absl::Status status = Dispatch(args, buffer);
    if (!status.ok()) {
      err << "gpufit: " << OneLine(status.message()) << '\n';
      return ExitCodeFor(status);
    }
    out << buffer.str();
    out.flush();
    return kExitOk;
  } catch (const std::exception& e) {
    err << "gpufit: internal error: " << OneLine(e.what()) << '\n';
  } catch (...) {
    err << "gpufit: internal error: unknown exception\n";
  }
  return kExitInternalError;
}

int RunCli(int argc, const char* const argv[], std::ostream& out, std::ostream& err) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return RunCli(args, out, err);
}

}  // namespace gpufit::cli

#include "render/mig_parted.h"

#include <cctype>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace gpufit::render {
namespace {

// Kubernetes label values: <= 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends.
std::string LabelSafe(std::string s) {
  for (char& c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '-';
  }
  if (s.size() > 63) s.resize(63);
  while (!s.empty() && !std::isalnum(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

std::string MigConfigName(const std::string& gpu, const std::string& layout) {
  return LabelSafe(absl::StrCat(gpu, "-", layout));
}

std::string MigPartedConfig(const core::FleetPlan& plan) {
  std::ostringstream out;
  out << "# NVIDIA mig-parted config written by gpufit" << (plan.name.empty() ? "" : " for ")
      << plan.name << ".\n# Label each node with nvidia.com/mig.config=<name> to apply a layout.\n";
  out << "version: v1\nmig-configs:\n  all-disabled:\n    - devices: all\n      mig-enabled: "
         "false\n";
  for (const core::FleetGpuPlan& g : plan.gpus) {
    for (const core::FleetMigLayout& l : g.mig_layouts) {
      std::map<std::string, int> counts;
      for (const auto& [profile, start] : l.instances) ++counts[profile];
      out << "  " << MigConfigName(g.accelerator, l.name) << ":  # " << l.gpus << " x "
          << g.accelerator << "\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n";
      for (const auto& [profile, n] : counts) out << "        \"" << profile << "\": " << n << "\n";
    }
  }
  return out.str();
}

}  // namespace gpufit::render

#include "support/melange/melange_instance.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/fleet_mig.h"
#include "nlohmann/json.hpp"

namespace gpufit::melange {
namespace {

// A100 80GB profiles by compute slices (NVIDIA MIG user guide); "A100-MIG-kg" in the
// instances is the k-compute-slice profile at k/7 of an A100's throughput and price.
core::MigProfile A100Profile(int compute) {
  switch (compute) {
    case 1:
      return {"1g.10gb", 1, 1, 7};
    case 2:
      return {"2g.20gb", 2, 2, 3};
    case 3:
      return {"3g.40gb", 3, 4, 2};
    case 4:
      return {"4g.40gb", 4, 4, 1};
    default:
      return {"7g.80gb", 7, 8, 1};
  }
}

absl::StatusOr<core::FleetProblem> ParseOrThrow(std::string_view text, std::string_view filename,
                                                MigMode mode) {
  const std::string file(filename);
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a JSON object"));
  }
  for (const char* key : {"gpu_info", "workload_distribution", "total_request_rate"}) {
    if (!doc.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", key, ": required"));
    }
  }
  const nlohmann::json& dist = doc["workload_distribution"];
  const double rate = doc["total_request_rate"].get<double>();
  const int slices = doc.contains("slice_factor") ? doc["slice_factor"].get<int>() : 1;
  if (!dist.is_array() || dist.empty() || !(rate > 0) || slices < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": workload_distribution, total_request_rate and slice_factor must be positive"));
  }
  core::FleetProblem pr;
  core::FleetDemand demand;
  demand.name = "melange";
  demand.slice_factor = slices;
  // Index GPU types; MIG slices map to a resource of the physical A100 in kPhysicalMig.
  struct Column {
    std::string name;
    const nlohmann::json* tputs;
  };
  std::vector<Column> columns;
  int a100 = -1;
  std::map<int, int> mig_columns;  // compute slices -> column
  for (auto it = doc["gpu_info"].begin(); it != doc["gpu_info"].end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& info = it.value();
    if (!info.contains("cost") || !info.contains("tputs")) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": gpu_info.", name, ": needs cost and tputs"));
    }
    const size_t pos = name.find("-MIG-");
    if (pos != std::string::npos) {
      if (mode == MigMode::kNoMig) continue;
      if (mode == MigMode::kPhysicalMig) {
        mig_columns[std::stoi(name.substr(pos + 5))] = static_cast<int>(columns.size());
        columns.push_back({name, &info["tputs"]});
        continue;
      }
    }
    core::FleetGpuType type;
    type.id = name;
    type.price_usd_per_hour = info["cost"].get<double>();
    if (name == "A100-80GB") a100 = static_cast<int>(pr.gpu_types.size());
    pr.resources.push_back({static_cast<int>(pr.gpu_types.size()), -1, name});
    pr.gpu_types.push_back(type);
    demand.bucket_choices.push_back({static_cast<int>(pr.resources.size()) - 1, 1, 1});
    columns.push_back({name, &info["tputs"]});
  }
  // Columns in the order of bucket_choices: whole types first, then MIG.
  std::vector<const nlohmann::json*> tput_of_choice;
  for (const Column& c : columns) {
    if (c.name.find("-MIG-") == std::string::npos || mode == MigMode::kFreeSlices) {
      tput_of_choice.push_back(c.tputs);
    }
  }
  if (mode == MigMode::kPhysicalMig && !mig_columns.empty()) {
    if (a100 < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": gpu_info: MIG slices need an A100-80GB entry"));
    }
    core::FleetGpuType& type = pr.gpu_types[a100];
    for (const auto& [compute, column] : mig_columns) {
      type.mig_profiles.push_back(A100Profile(compute));
      pr.resources.push_back({a100, static_cast<int>(type.mig_profiles.size()) - 1,
                              absl::StrCat("A100-80GB/", type.mig_profiles.back().name)});
      demand.bucket_choices.push_back({static_cast<int>(pr.resources.size()) - 1, 1, 1});
      tput_of_choice.push_back(columns[column].tputs);
    }
    type.patterns = core::EnumerateMigPatterns(type.mig_profiles);
  }
  for (size_t i = 0; i < dist.size(); ++i) {
    for (size_t j = 0; j < dist[i].size(); ++j) {
      const double fraction = dist[i][j].get<double>();
      if (fraction <= 0) continue;
      core::FleetBucket bucket;
      bucket.name = absl::StrCat("b", i, "_", j);
      bucket.requests_per_second = fraction * rate;
      for (const nlohmann::json* t : tput_of_choice) {
        const double cap = (*t)[i][j].get<double>();
        bucket.capacity.push_back(cap > 0 ? cap : 0);
      }
      demand.buckets.push_back(std::move(bucket));
    }
  }
  pr.demands.push_back(std::move(demand));
  return pr;
}

}  // namespace

absl::StatusOr<core::FleetProblem> ParseMelangeInstance(std::string_view text,
                                                        std::string_view filename, MigMode mode) {
  // nlohmann::json reports type mismatches (a string where a number belongs) by exception.
  try {
    return ParseOrThrow(text, filename, mode);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(filename), ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(filename), ": ", e.what()));
  }
}

}  // namespace gpufit::melange

// An independent MIG layout checker for tests: NVIDIA MIG user guide placement table for
// A100/H100 80GB (`nvidia-smi mig -lgipp`), written out by hand rather than derived, so that
// it checks core::MigStartSlots instead of repeating it.
#ifndef GPUFIT_TESTS_CORE_MIG_CHECKER_H_
#define GPUFIT_TESTS_CORE_MIG_CHECKER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gpufit::testing {

struct MigSlotRule {
  int size;                 // memory slots occupied
  int compute;              // compute slices
  std::vector<int> starts;  // legal start slots
};

inline const std::map<std::string, MigSlotRule>& A100Mig80Rules() {
  static const auto* rules = new std::map<std::string, MigSlotRule>{
      {"1g.10gb", {1, 1, {0, 1, 2, 3, 4, 5, 6}}},
      {"1g.20gb", {2, 1, {0, 2, 4, 6}}},
      {"2g.20gb", {2, 2, {0, 2, 4}}},
      {"3g.40gb", {4, 3, {0, 4}}},
      {"4g.40gb", {4, 4, {0}}},
      {"7g.80gb", {8, 7, {0}}},
  };
  return *rules;
}

// Empty if (profile name, start) pairs form a valid layout of one GPU; else the reason.
inline std::string CheckMigLayout(const std::vector<std::pair<std::string, int>>& instances) {
  int used[8] = {0};
  int compute = 0;
  for (const auto& [name, start] : instances) {
    auto it = A100Mig80Rules().find(name);
    if (it == A100Mig80Rules().end()) return "unknown profile " + name;
    const MigSlotRule& rule = it->second;
    bool legal = false;
    for (int s : rule.starts) legal = legal || s == start;
    if (!legal) return name + " cannot start at " + std::to_string(start);
    for (int i = start; i < start + rule.size; ++i) {
      if (i >= 8 || used[i]++) return "slot overlap at " + std::to_string(i);
    }
    compute += rule.compute;
  }
  if (compute > 7) return "more than 7 compute slices";
  return "";
}

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_CORE_MIG_CHECKER_H_

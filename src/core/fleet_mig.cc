#include "core/fleet_mig.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace gpufit::core {
namespace {

constexpr int kMemorySlots = 8;    // NVIDIA MIG user guide: 8 memory slices on A100/H100/H200
constexpr int kComputeSlices = 7;  // and 7 compute slices

struct Placer {
  const std::vector<MigProfile>& profiles;
  std::vector<std::vector<int>> starts;  // per profile
  std::vector<int> order;                // profile indices, larger memory first

  explicit Placer(const std::vector<MigProfile>& p) : profiles(p) {
    for (const MigProfile& profile : p) starts.push_back(MigStartSlots(profile));
    order.resize(p.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return std::make_pair(p[a].memory_slices, p[a].compute_slices) >
             std::make_pair(p[b].memory_slices, p[b].compute_slices);
    });
  }

  bool Free(unsigned used, int profile, int start) const {
    const int size = profiles[profile].memory_slices;
    const unsigned mask = ((1u << size) - 1u) << start;
    return (used & mask) == 0;
  }
  static unsigned Mask(int size, int start) { return ((1u << size) - 1u) << start; }

  // Places remaining[] instances following `order`; placements appended on success.
  bool Place(unsigned used, std::vector<int>& remaining, size_t k,
             std::vector<MigPlacement>& out) const {
    while (k < order.size() && remaining[order[k]] == 0) ++k;
    if (k == order.size()) return true;
    const int p = order[k];
    const int last = out.empty() || out.back().profile != p ? -1 : out.back().start;
    for (int s : starts[p]) {
      if (s <= last || !Free(used, p, s)) continue;  // same-profile starts ascending: no repeats
      --remaining[p];
      out.push_back({p, s});
      if (Place(used | Mask(profiles[p].memory_slices, s), remaining, k, out)) return true;
      out.pop_back();
      ++remaining[p];
    }
    return false;
  }
};

}  // namespace

std::vector<int> MigStartSlots(const MigProfile& profile) {
  std::vector<int> out;
  const int size = profile.memory_slices;
  if (size < 1 || size > kMemorySlots || profile.compute_slices < 1) return out;
  for (int s = 0; s + size <= kMemorySlots; s += size) {
    if (s + profile.compute_slices <= kComputeSlices) out.push_back(s);
  }
  return out;
}

bool PlaceMigInstances(const std::vector<MigProfile>& profiles, const std::vector<int>& counts,
                       std::vector<MigPlacement>* placements) {
  const Placer placer(profiles);
  std::vector<int> remaining = counts;
  int compute = 0;
  for (size_t p = 0; p < profiles.size(); ++p) compute += counts[p] * profiles[p].compute_slices;
  if (compute > kComputeSlices) return false;
  std::vector<MigPlacement> out;
  if (!placer.Place(0, remaining, 0, out)) return false;
  if (placements != nullptr) *placements = std::move(out);
  return true;
}

std::string MigPatternName(const std::vector<MigProfile>& profiles,
                           const std::vector<int>& counts) {
  std::vector<int> order(profiles.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::make_pair(profiles[a].compute_slices, profiles[a].memory_slices) >
           std::make_pair(profiles[b].compute_slices, profiles[b].memory_slices);
  });
  std::string name;
  for (int p : order) {
    if (counts[p] == 0) continue;
    if (!name.empty()) name += "+";
    absl::StrAppend(&name, counts[p], "x", profiles[p].name);
  }
  return name.empty() ? "empty" : name;
}

std::vector<MigPattern> EnumerateMigPatterns(const std::vector<MigProfile>& profiles) {
  std::vector<MigPattern> out;
  if (profiles.empty()) return out;
  const Placer placer(profiles);
  // Depth-first over all placements (start slot ascending, any profile) collecting the count
  // vectors of layouts that cannot take one more instance anywhere.
  std::map<std::vector<int>, std::vector<MigPlacement>> maximal;
  std::vector<int> counts(profiles.size(), 0);
  std::vector<MigPlacement> current;
  auto can_extend = [&](unsigned used, int compute) {
    for (size_t p = 0; p < profiles.size(); ++p) {
      if (compute + profiles[p].compute_slices > kComputeSlices) continue;
      for (int s : placer.starts[p]) {
        if (placer.Free(used, static_cast<int>(p), s)) return true;
      }
    }
    return false;
  };
  // Placements are generated in increasing start slot so each layout is visited once.
  auto recurse = [&](auto&& self, unsigned used, int compute, int min_start) -> void {
    if (!can_extend(used, compute)) {
      maximal.emplace(counts, current);
      return;
    }
    bool placed = false;
    for (int s = min_start; s < kMemorySlots; ++s) {
      for (size_t p = 0; p < profiles.size(); ++p) {
        const int pi = static_cast<int>(p);
        if (compute + profiles[p].compute_slices > kComputeSlices) continue;
        const std::vector<int>& st = placer.starts[p];
        if (std::find(st.begin(), st.end(), s) == st.end() || !placer.Free(used, pi, s)) continue;
        placed = true;
        ++counts[p];
        current.push_back({pi, s});
        self(self, used | Placer::Mask(profiles[p].memory_slices, s),
             compute + profiles[p].compute_slices, s + 1);
        current.pop_back();
        --counts[p];
      }
    }
    // Free space remains only below min_start: this layout is maximal among those that
    // skip those slots; record it so that the dominance filter below decides.
    if (!placed) maximal.emplace(counts, current);
  };
  recurse(recurse, 0u, 0, 0);
  // Drop count vectors contained in another valid one.
  std::vector<std::vector<int>> keys;
  for (const auto& [k, v] : maximal) keys.push_back(k);
  for (const auto& [k, placement] : maximal) {
    bool dominated = false;
    for (const std::vector<int>& other : keys) {
      if (other == k) continue;
      bool contains = true;
      for (size_t p = 0; p < k.size(); ++p) contains = contains && other[p] >= k[p];
      if (contains) {
        dominated = true;
        break;
      }
    }
    if (dominated) continue;
    MigPattern pattern;
    pattern.counts = k;
    pattern.placements = placement;
    pattern.name = MigPatternName(profiles, k);
    out.push_back(std::move(pattern));
  }
  return out;
}

}  // namespace gpufit::core

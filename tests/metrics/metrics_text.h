// Test helper: reads values out of the Prometheus text exposition format.
#ifndef GPUFIT_TESTS_METRICS_METRICS_TEXT_H_
#define GPUFIT_TESTS_METRICS_METRICS_TEXT_H_

#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace gpufit::testing {

// The value of the sample `name` whose labels include every pair of `labels` (nullopt if
// none). Label values must not contain '"' or ',' (true of gpufit's).
inline std::optional<double> MetricValue(const std::string& text, const std::string& name,
                                         const std::map<std::string, std::string>& labels = {}) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (line.substr(0, name_end) != name) continue;
    std::map<std::string, std::string> have;
    size_t value_start = name_end + 1;
    if (line[name_end] == '{') {
      const size_t close = line.find('}', name_end);
      std::istringstream pairs(line.substr(name_end + 1, close - name_end - 1));
      for (std::string pair; std::getline(pairs, pair, ',');) {
        const size_t eq = pair.find('=');
        have[pair.substr(0, eq)] = pair.substr(eq + 2, pair.size() - eq - 3);
      }
      value_start = close + 2;
    }
    bool match = true;
    for (const auto& [k, v] : labels) match = match && have.count(k) && have[k] == v;
    if (match) return std::stod(line.substr(value_start));
  }
  return std::nullopt;
}

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_METRICS_METRICS_TEXT_H_

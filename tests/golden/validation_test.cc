// Predicts every point of tests/testdata/data/validation-public.yaml (published measurements:
// TensorRT-LLM static-batching throughput and batch-1 time to first token), prints
// predicted vs measured with the error, and fails if the median |error| exceeds 20%.
// The constants are the catalog's global policy: nothing here is fitted per point.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "config/catalog_loader.h"
#include "core/performance_model.h"
#include "core/resolved_workload.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace gpufit {
namespace {

// The validation file names GPUs and models by their public names; map to catalog ids.
const std::map<std::string, std::string> kGpuIds = {
    {"H100-SXM", "h100-80gb"}, {"A100-80GB-SXM", "a100-80gb"}, {"L40S", "l40s"}};
const std::map<std::string, std::string> kModelIds = {{"meta-llama/Llama-2-7b-hf", "llama-2-7b"},
                                                      {"meta-llama/Llama-2-70b-hf", "llama-2-70b"}};

struct Point {
  std::string label;
  double measured = 0;
  double predicted = 0;
  double error() const { return predicted / measured - 1.0; }
};

core::ResolvedWorkload Workload(const core::Catalog& catalog, const std::string& model,
                                const std::string& precision, const std::string& kv, int input,
                                int output) {
  core::ResolvedWorkload w;
  w.preset = catalog.FindPreset(kModelIds.at(model));
  EXPECT_NE(w.preset, nullptr) << model;
  w.architecture = w.preset->architecture;
  w.weight_precision = core::ParsePrecision(precision).value();
  w.kv_precision = core::ParsePrecision(kv).value();
  w.input_tokens = input;
  w.output_tokens = std::max(output, 1);
  w.max_context_tokens = input + output;
  return w;
}

// Static batching (gptSessionBenchmark): prefill the whole batch at once, then decode
// output_len steps with the context growing by one token per step.
double StaticBatchTokensPerSecondPerGpu(const core::LlmPerformanceModel& m, int batch, int input,
                                        int output, int gpus) {
  double seconds = m.PrefillSeconds(static_cast<double>(batch) * input, input);
  for (int step = 0; step < output; ++step) seconds += m.StepSeconds(batch, input + step, 0);
  return static_cast<double>(batch) * output / seconds / gpus;
}

std::vector<Point> PredictAll() {
  const auto catalog = config::DefaultCatalog();
  const core::ModelConstants& k = catalog->policy().model;
  const YAML::Node doc = YAML::LoadFile(GPUFIT_SHARED_DIR "/data/validation-public.yaml");
  std::vector<Point> points;
  for (const YAML::Node& p : doc["points"]) {
    const std::string model = p["model"].as<std::string>();
    if (p["measured"]) {
      const YAML::Node wl = p["workload"];
      const int batch = wl["batch"].as<int>(), input = wl["input_len"].as<int>(),
                output = wl["output_len"].as<int>(), tp = p["tp"].as<int>();
      const core::ResolvedWorkload w =
          Workload(*catalog, model, p["precision"]["weights"].as<std::string>(),
                   p["precision"]["kv"].as<std::string>(), input, output);
      const core::Accelerator* acc =
          catalog->FindAccelerator(kGpuIds.at(p["gpu"].as<std::string>()));
      const core::LlmPerformanceModel m(w, *acc, tp, k);
      const YAML::Node measured = p["measured"];
      const double value = measured["output_tok_s_per_gpu"]
                               ? measured["output_tok_s_per_gpu"].as<double>()
                               : measured["output_tok_s"].as<double>();
      points.push_back({p["id"].as<std::string>(), value,
                        StaticBatchTokensPerSecondPerGpu(m, batch, input, output, tp)});
    } else {
      for (const YAML::Node& q : p["measured_ttft_ms"]) {
        const int gpus = q["num_gpus"] ? q["num_gpus"].as<int>() : 1;
        const int input = q["input_len"].as<int>();
        const std::string precision = q["precision"].as<std::string>();
        const core::ResolvedWorkload w = Workload(*catalog, model, precision, "fp16", input, 1);
        const core::Accelerator* acc =
            catalog->FindAccelerator(kGpuIds.at(q["gpu"].as<std::string>()));
        const core::LlmPerformanceModel m(w, *acc, gpus, k);
        points.push_back({p["id"].as<std::string>() + "/" + q["gpu"].as<std::string>() + "/in" +
                              std::to_string(input),
                          q["ttft_ms"].as<double>(), m.PrefillSeconds(input, input) * 1e3});
      }
    }
  }
  return points;
}

TEST(ValidationTest, MedianErrorAgainstPublishedMeasurementsIsAtMost20Percent) {
  const std::vector<Point> points = PredictAll();
  ASSERT_EQ(points.size(), 21u) << "validation-public.yaml changed shape";
  std::vector<double> errors;
  std::printf("%-60s %10s %10s %8s\n", "point", "measured", "predicted", "error");
  for (const Point& p : points) {
    std::printf("%-60s %10.1f %10.1f %+7.1f%%\n", p.label.c_str(), p.measured, p.predicted,
                100 * p.error());
    errors.push_back(std::fabs(p.error()));
  }
  std::sort(errors.begin(), errors.end());
  const size_t n = errors.size();
  const double median = n % 2 ? errors[n / 2] : (errors[n / 2 - 1] + errors[n / 2]) / 2;
  std::printf("median |error| = %.1f%% over %zu points (max %.1f%%)\n", 100 * median, n,
              100 * errors.back());
  EXPECT_LE(median, 0.20);
}

}  // namespace
}  // namespace gpufit

#include "support/melange/melange_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace gpufit::melange {
namespace {

// Axes of the shared instances (README there): log-spaced buckets over these token ranges.
constexpr double kInputLo = 32, kInputHi = 8192;
constexpr double kOutputLo = 16, kOutputHi = 2048;
constexpr double kTpotSeconds = 0.120;  // per-token latency target
// Residual of the model against the shared 8x8 tables (RMS of log throughput, 0.08-0.11 per
// GPU; the 4x4 tables, not used in the fit, give 0.09-0.11): the noise the tables carry.
constexpr double kNoiseSigma = 0.09;

// Per GPU: a request costs a fixed `overhead_s`, prefill `prefill_s_per_token` per input
// token, and a decode slot for output x TPOT in a batch of at most
// min(max_batch, kv_tokens / (in + out), latency_tokens / (in + out / 2)): the batch a GPU's
// memory holds and the batch whose weight and KV reads fit one TPOT (the roofline terms).
// Fitted to the shared mixed_g08 tables (Nelder-Mead on log throughput, 64 cells per GPU).
struct GpuModel {
  const char* name;
  double cost_usd_per_hour;
  double overhead_s;
  double prefill_s_per_token;
  double max_batch;
  double kv_tokens;
  double latency_tokens;
};
constexpr GpuModel kGpus[] = {
    {"L4", 0.7, 0.0221121, 0.000590931, 232.952, 20928.1, 12872.8},
    {"A10G", 1.01, 0.008526, 0.000263765, 153.414, 20839.7, 12533.4},
    {"A100-80GB", 3.67, 0.00420476, 7.60047e-05, 338.608, 170341, 116642},
    {"H100", 7.52, 0.00434989, 9.25397e-06, 402.384, 183566, 102007},
};

double Throughput(const GpuModel& g, double in, double out) {
  const double batch =
      std::min({g.max_batch, g.kv_tokens / (in + out), g.latency_tokens / (in + out / 2)});
  return 1.0 / (g.overhead_s + g.prefill_s_per_token * in + out * kTpotSeconds / batch);
}

// The shared `mixed` distribution: components (weight, input median, input sigma, output
// median, output sigma) of independent lognormal lengths; mass beyond the axis ends falls in
// the end buckets. These reproduce the shared 4x4 and 8x8 fractions to 1e-8.
struct Component {
  double weight, in_median, in_sigma, out_median, out_sigma;
};
constexpr Component kMixed[] = {{0.8, 120, 1.1, 180, 0.9}, {0.2, 3000, 0.5, 220, 0.6}};

std::vector<double> LognormalBuckets(double median, double sigma, double lo, double hi, int n) {
  auto cdf = [&](double x) {
    return 0.5 * std::erfc(-(std::log(x) - std::log(median)) / (sigma * std::sqrt(2.0)));
  };
  std::vector<double> p(n);
  for (int k = 0; k < n; ++k) {
    const double a = lo * std::pow(hi / lo, static_cast<double>(k) / n);
    const double b = lo * std::pow(hi / lo, static_cast<double>(k + 1) / n);
    p[k] = (k == 0 ? 1.0 : 1.0 - cdf(a)) - (k == n - 1 ? 0.0 : 1.0 - cdf(b));
  }
  return p;
}

// `x` to 3 significant digits, as the shared tables give throughput.
double Significant3(double x) {
  if (!(x > 0)) return 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", x);
  return std::strtod(buf, nullptr);
}

double Round(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

// Standard normal from a 64-bit Mersenne Twister (its output sequence is fixed by the
// standard, unlike std::normal_distribution's algorithm): Box-Muller.
double Normal(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

}  // namespace

double MelangeBucketCentre(double lo, double hi, int buckets, int index) {
  return lo * std::pow(hi / lo, (index + 0.5) / buckets);
}

double MelangeModelRequestsPerSecond(const std::string& gpu, double input_tokens,
                                     double output_tokens) {
  for (const GpuModel& g : kGpus) {
    if (gpu == g.name) return Throughput(g, input_tokens, output_tokens);
  }
  return 0;
}

std::string MelangeInstanceName(const MelangeInstanceSpec& spec) {
  return absl::StrFormat(
      "synthetic_mixed_g%02d_%s_r%03d_sf%d", spec.buckets, spec.mig ? "mig7" : "base4",
      static_cast<int>(std::lround(spec.requests_per_second)), spec.slice_factor);
}

std::string GenerateMelangeInstance(const MelangeInstanceSpec& spec) {
  const int n = std::clamp(spec.buckets, 1, 64);
  nlohmann::ordered_json doc;
  nlohmann::ordered_json gpu_info = nlohmann::ordered_json::object();
  std::vector<std::vector<double>> a100;
  for (size_t g = 0; g < sizeof(kGpus) / sizeof(kGpus[0]); ++g) {
    // One stream per (seed, bucket count, GPU): tables do not depend on rate or MIG.
    std::mt19937_64 rng(spec.seed * 1000003u + static_cast<uint64_t>(n) * 101u + g);
    std::vector<std::vector<double>> tputs(n, std::vector<double>(n));
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        const double in = MelangeBucketCentre(kInputLo, kInputHi, n, i);
        const double out = MelangeBucketCentre(kOutputLo, kOutputHi, n, j);
        tputs[i][j] =
            Significant3(Throughput(kGpus[g], in, out) * std::exp(kNoiseSigma * Normal(rng)));
      }
    }
    if (std::string(kGpus[g].name) == "A100-80GB") a100 = tputs;
    gpu_info[kGpus[g].name] = {{"cost", kGpus[g].cost_usd_per_hour}, {"tputs", tputs}};
  }
  if (spec.mig) {
    // As the shared mig7 files: a kg slice at exactly k/7 of an A100's throughput and price.
    for (int k : {1, 2, 3}) {
      std::vector<std::vector<double>> tputs = a100;
      for (auto& row : tputs) {
        for (double& v : row) v = Significant3(v * k / 7);
      }
      gpu_info[absl::StrCat("A100-MIG-", k, "g")] = {{"cost", Round(3.67 * k / 7, 4)},
                                                     {"tputs", tputs}};
    }
  }
  std::vector<std::vector<double>> dist(n, std::vector<double>(n, 0));
  for (const Component& c : kMixed) {
    const std::vector<double> pin =
        LognormalBuckets(c.in_median, c.in_sigma, kInputLo, kInputHi, n);
    const std::vector<double> pout =
        LognormalBuckets(c.out_median, c.out_sigma, kOutputLo, kOutputHi, n);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) dist[i][j] += c.weight * pin[i] * pout[j];
    }
  }
  for (auto& row : dist) {
    for (double& v : row) v = Round(v, 8);
  }
  doc["gpu_info"] = gpu_info;
  doc["workload_distribution"] = dist;
  doc["total_request_rate"] = spec.requests_per_second;
  doc["slice_factor"] = spec.slice_factor;
  return doc.dump(1);
}

}  // namespace gpufit::melange

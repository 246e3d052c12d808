#include "config/fleet_loader.h"

#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/workload_loader.h"
#include "config/yaml_reader.h"
#include "core/limits.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace gpufit::config {
namespace {

using internal::Bound;
using internal::FieldPath;
using internal::IndexPath;
using internal::YamlReader;

// Python's json.dump writes non-finite floats as bare NaN / Infinity / -Infinity, which
// strict JSON rejects; outside strings they become null ("absent").
std::string NullNonFinite(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (text.substr(i, 3) == "NaN") {
      out += "null";
      i += 2;
    } else if (text.substr(i, 9) == "-Infinity") {
      out += "null";
      i += 8;
    } else if (text.substr(i, 8) == "Infinity") {
      out += "null";
      i += 7;
    } else {
      out += c;
    }
  }
  return out;
}

double NumberOr(const nlohmann::json& doc, const char* key, double fallback) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return fallback;
  return it->get<double>();
}

absl::Status ReadBuckets(const YamlReader& r, const YAML::Node& node, const std::string& path,
                         core::BucketedTraffic* bt) {
  bool have_rate = false, have_distribution = false;
  GPUFIT_RETURN_IF_ERROR(r.ForEachField(
      node, path, {"requests_per_second", "slice_factor", "distribution"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        if (key == "requests_per_second") {
          have_rate = true;
          GPUFIT_ASSIGN_OR_RETURN(bt->requests_per_second,
                                  r.Number(v, p, Bound::kPositive, core::kMaxRatePerSecond));
        } else if (key == "slice_factor") {
          GPUFIT_ASSIGN_OR_RETURN(bt->slice_factor, r.Integer(v, p, 1, 64));
        } else {
          have_distribution = true;
          GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(v, p));
          if (v.size() == 0) return r.Error(v, p, "must not be empty");
          for (size_t i = 0; i < v.size(); ++i) {
            core::TrafficBucket b;
            const std::string bp = IndexPath(p, i);
            bool in = false, out = false, fr = false;
            GPUFIT_RETURN_IF_ERROR(r.ForEachField(
                v[i], bp, {"input_tokens", "output_tokens", "fraction"},
                [&](std::string_view k, const YAML::Node& bv,
                    const std::string& pp) -> absl::Status {
                  if (k == "input_tokens") {
                    in = true;
                    GPUFIT_ASSIGN_OR_RETURN(b.input_tokens, r.Integer(bv, pp, 1));
                  } else if (k == "output_tokens") {
                    out = true;
                    GPUFIT_ASSIGN_OR_RETURN(b.output_tokens, r.Integer(bv, pp, 1));
                  } else {
                    fr = true;
                    GPUFIT_ASSIGN_OR_RETURN(
                        b.fraction, r.Number(bv, pp, Bound::kNonNegative, core::kMaxBucketWeight));
                  }
                  return absl::OkStatus();
                }));
            if (!in || !out || !fr) {
              return r.Error(v[i], bp, "needs input_tokens, output_tokens and fraction");
            }
            bt->buckets.push_back(b);
          }
        }
        return absl::OkStatus();
      }));
  if (!have_rate) return r.Error(node, FieldPath(path, "requests_per_second"), "required");
  if (!have_distribution) return r.Error(node, FieldPath(path, "distribution"), "required");
  return absl::OkStatus();
}

absl::StatusOr<core::MeasuredCapacity> ReadMeasured(const YamlReader& r, const YAML::Node& node,
                                                    const std::string& path,
                                                    const std::string& base_dir) {
  core::MeasuredCapacity m;
  std::optional<YAML::Node> bench;
  std::string bench_path;
  GPUFIT_RETURN_IF_ERROR(r.ForEachField(
      node, path,
      {"workload", "bucket", "accelerator", "gpus_per_replica", "requests_per_second",
       "concurrency", "vllm_bench"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        if (key == "workload") {
          GPUFIT_ASSIGN_OR_RETURN(m.workload, r.String(v, p));
        } else if (key == "bucket") {
          GPUFIT_ASSIGN_OR_RETURN(m.bucket, r.Integer(v, p, 0));
        } else if (key == "accelerator") {
          GPUFIT_ASSIGN_OR_RETURN(m.accelerator, r.String(v, p));
        } else if (key == "gpus_per_replica") {
          GPUFIT_ASSIGN_OR_RETURN(m.gpus_per_replica, r.Integer(v, p, 1, 64));
        } else if (key == "requests_per_second") {
          GPUFIT_ASSIGN_OR_RETURN(m.requests_per_second,
                                  r.Number(v, p, Bound::kPositive, core::kMaxRatePerSecond));
        } else if (key == "concurrency") {
          GPUFIT_ASSIGN_OR_RETURN(m.concurrency,
                                  r.Number(v, p, Bound::kPositive, core::kMaxConcurrency));
        } else {
          bench.emplace(v);
          GPUFIT_ASSIGN_OR_RETURN(bench_path, r.String(v, p));
        }
        return absl::OkStatus();
      }));
  if (m.workload.empty()) return r.Error(node, FieldPath(path, "workload"), "required");
  if (m.accelerator.empty()) return r.Error(node, FieldPath(path, "accelerator"), "required");
  if (bench.has_value()) {
    std::filesystem::path p(bench_path);
    if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
    absl::StatusOr<std::string> text = internal::ReadFileToString(p.string());
    if (!text.ok())
      return r.Error(*bench, FieldPath(path, "vllm_bench"), std::string(text.status().message()));
    absl::StatusOr<VllmBenchCapacity> cap = ParseVllmBenchResult(*text, p.string());
    if (!cap.ok())
      return r.Error(*bench, FieldPath(path, "vllm_bench"), std::string(cap.status().message()));
    if (m.requests_per_second == 0) m.requests_per_second = cap->requests_per_second;
    if (m.concurrency == 0) m.concurrency = cap->concurrency;
    m.source = p.string();
  }
  if (m.requests_per_second == 0 && m.concurrency == 0) {
    return r.Error(node, path, "give requests_per_second, concurrency or vllm_bench");
  }
  return m;
}

}  // namespace

absl::StatusOr<VllmBenchCapacity> ParseVllmBenchResult(std::string_view text,
                                                       std::string_view filename) {
  const std::string file(filename);
  VllmBenchCapacity best;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const nlohmann::json doc = nlohmann::json::parse(NullNonFinite(std::string(line)), nullptr,
                                                     /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ":", line_no, ": not a JSON object (vllm bench serve result)"));
    }
    const double throughput = NumberOr(doc, "request_throughput", 0);
    if (!(throughput > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ":", line_no, ": request_throughput: missing or not > 0"));
    }
    double goodput = NumberOr(doc, "request_goodput", -1);
    if (goodput < 0) goodput = NumberOr(doc, "request_goodput:", -1);  // 2025 spelling
    const double rps = goodput >= 0 ? goodput : throughput;
    const double concurrency = NumberOr(doc, "max_concurrency", 0) * rps / throughput;
    ++best.runs;
    if (rps > best.requests_per_second) {
      best.requests_per_second = rps;
      best.concurrency = concurrency;
    }
  }
  if (best.runs == 0) return absl::InvalidArgumentError(absl::StrCat(file, ": empty"));
  if (!(best.requests_per_second > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": no run met its SLO (goodput 0)"));
  }
  return best;
}

absl::StatusOr<core::FleetRequest> ParseFleetYaml(std::string_view yaml_text,
                                                  std::string_view filename,
                                                  const std::string& base_dir) {
  const YamlReader r(filename);
  GPUFIT_ASSIGN_OR_RETURN(const YAML::Node root, r.ParseTopLevelMap(yaml_text, "fleet"));
  core::FleetRequest req;
  bool have_workloads = false;
  GPUFIT_RETURN_IF_ERROR(r.ForEachField(
      root, "", {"name", "workloads", "accelerators", "allow_mig", "gpus", "measured", "solver"},
      [&](std::string_view key, const YAML::Node& v, const std::string& p) -> absl::Status {
        if (key == "name") {
          GPUFIT_ASSIGN_OR_RETURN(req.name, r.String(v, p));
        } else if (key == "accelerators") {
          GPUFIT_ASSIGN_OR_RETURN(req.accelerators, r.StringList(v, p));
        } else if (key == "allow_mig") {
          GPUFIT_ASSIGN_OR_RETURN(req.allow_mig, r.Bool(v, p));
        } else if (key == "workloads") {
          have_workloads = true;
          GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(v, p));
          if (v.size() == 0) return r.Error(v, p, "must not be empty");
          for (size_t i = 0; i < v.size(); ++i) {
            const std::string wp = IndexPath(p, i);
            GPUFIT_RETURN_IF_ERROR(r.ExpectMap(v[i], wp));
            // `buckets` is the fleet file's addition to the workload format.
            // A new map sharing the original child nodes keeps their line numbers (Clone
            // would drop them).
            YAML::Node entry(YAML::NodeType::Map);
            core::FleetWorkload fw;
            std::optional<YAML::Node> buckets;
            for (auto it = v[i].begin(); it != v[i].end(); ++it) {
              if (it->first.IsScalar() && it->first.Scalar() == "buckets") {
                buckets.emplace(it->second);
              } else {
                entry.force_insert(it->first, it->second);
              }
            }
            if (buckets.has_value()) {
              core::BucketedTraffic bt;
              GPUFIT_RETURN_IF_ERROR(ReadBuckets(r, *buckets, FieldPath(wp, "buckets"), &bt));
              fw.buckets = std::move(bt);
            }
            GPUFIT_ASSIGN_OR_RETURN(fw.workload, internal::ReadWorkload(r, entry, wp));
            if (fw.workload.name.empty()) return r.Error(v[i], FieldPath(wp, "name"), "required");
            for (const core::FleetWorkload& other : req.workloads) {
              if (other.workload.name == fw.workload.name) {
                return r.Error(v[i], FieldPath(wp, "name"),
                               "duplicate workload name '" + fw.workload.name + "'");
              }
            }
            req.workloads.push_back(std::move(fw));
          }
        } else if (key == "gpus") {
          GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(v, p));
          for (size_t i = 0; i < v.size(); ++i) {
            core::FleetGpuOptions g;
            const std::string gp = IndexPath(p, i);
            GPUFIT_RETURN_IF_ERROR(r.ForEachField(
                v[i], gp, {"accelerator", "max_count", "owned", "price_usd_per_hour"},
                [&](std::string_view k, const YAML::Node& gv,
                    const std::string& pp) -> absl::Status {
                  if (k == "accelerator") {
                    GPUFIT_ASSIGN_OR_RETURN(g.accelerator, r.String(gv, pp));
                  } else if (k == "max_count") {
                    GPUFIT_ASSIGN_OR_RETURN(g.max_count, r.Integer(gv, pp, 0, core::kMaxGpuCount));
                  } else if (k == "owned") {
                    GPUFIT_ASSIGN_OR_RETURN(g.owned, r.Integer(gv, pp, 0, core::kMaxGpuCount));
                  } else {
                    GPUFIT_ASSIGN_OR_RETURN(
                        g.price_usd_per_hour,
                        r.Number(gv, pp, Bound::kNonNegative, core::kMaxPriceUsdPerHour));
                  }
                  return absl::OkStatus();
                }));
            if (g.accelerator.empty())
              return r.Error(v[i], FieldPath(gp, "accelerator"), "required");
            req.gpus.push_back(g);
          }
        } else if (key == "measured") {
          GPUFIT_RETURN_IF_ERROR(r.ExpectSequence(v, p));
          for (size_t i = 0; i < v.size(); ++i) {
            GPUFIT_ASSIGN_OR_RETURN(core::MeasuredCapacity m,
                                    ReadMeasured(r, v[i], IndexPath(p, i), base_dir));
            req.measured.push_back(std::move(m));
          }
        } else {
          GPUFIT_RETURN_IF_ERROR(r.ForEachField(
              v, p, {"time_limit_seconds", "relative_gap"},
              [&](std::string_view k, const YAML::Node& sv, const std::string& pp) -> absl::Status {
                if (k == "time_limit_seconds") {
                  GPUFIT_ASSIGN_OR_RETURN(req.solve.time_limit_seconds,
                                          r.Number(sv, pp, Bound::kPositive));
                } else {
                  GPUFIT_ASSIGN_OR_RETURN(req.solve.relative_gap,
                                          r.Number(sv, pp, Bound::kNonNegative));
                }
                return absl::OkStatus();
              }));
        }
        return absl::OkStatus();
      }));
  if (!have_workloads) return r.Error(root, "workloads", "required");
  return req;
}

absl::StatusOr<core::FleetRequest> LoadFleetFile(const std::string& path) {
  GPUFIT_ASSIGN_OR_RETURN(const std::string text, internal::ReadFileToString(path));
  return ParseFleetYaml(text, path, std::filesystem::path(path).parent_path().string());
}

}  // namespace gpufit::config

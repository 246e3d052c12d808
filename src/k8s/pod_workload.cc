#include "k8s/pod_workload.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/precision.h"
#include "core/task.h"
#include "k8s/json_readers.h"

namespace gpufit::k8s {
namespace {

using simdjson::ondemand::json_type;
using simdjson::ondemand::object;

absl::string_view Abs(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::string_view kKeys[] = {
    "workload",
    "model",
    "precision",
    "target-concurrency",
    "max-context-tokens",
    "input-tokens",
    "output-tokens",
    "ttft-ms",
    "tpot-ms",
    "objective",
    "isolation",
    "accelerators",
};

absl::Status Malformed(simdjson::error_code err) {
  return absl::InvalidArgumentError(
      absl::StrCat("Pod: malformed JSON: ", simdjson::error_message(err)));
}

absl::Status ReadAnnotations(object annotations, PodInfo* info) {
  for (auto field : annotations) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return Malformed(err);
    if (key.substr(0, kAnnotationPrefix.size()) != kAnnotationPrefix) continue;
    std::string_view text;
    if (field.value().get_string().get(text) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("Pod.metadata.annotations[", Abs(key), "]: must be a string"));
    }
    // Kubernetes never sends one key twice; a body that does is forged or broken, and which
    // value would win is a guess (Go's decoder keeps the last, others the first).
    for (const auto& [seen, unused] : info->annotations) {
      if (seen == key) {
        return absl::InvalidArgumentError(
            absl::StrCat("Pod.metadata.annotations[", Abs(key), "]: duplicate key"));
      }
    }
    info->annotations.emplace_back(std::string(key), std::string(text));
  }
  return absl::OkStatus();
}

std::string Normalize(std::string_view name) {
  std::string s = absl::AsciiStrToLower(Abs(name));
  if (const size_t slash = s.rfind('/'); slash != std::string::npos) s = s.substr(slash + 1);
  absl::string_view v(s);
  absl::ConsumePrefix(&v, "meta-");
  static constexpr absl::string_view kSuffixes[] = {"-instruct", "-chat", "-hf",   "-it",
                                                    "-base",     "-v0.1", "-v0.2", "-v0.3"};
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (absl::string_view suffix : kSuffixes) stripped |= absl::ConsumeSuffix(&v, suffix);
  }
  return std::string(v);
}

absl::StatusOr<double> PositiveNumber(const std::string& key, const std::string& text) {
  double n = 0;
  if (!absl::SimpleAtod(text, &n) || !std::isfinite(n) || n <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": must be a number > 0; got '", text, "'"));
  }
  return n;
}

absl::StatusOr<int> PositiveInt(const std::string& key, const std::string& text) {
  int n = 0;
  if (!absl::SimpleAtoi(text, &n) || n <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": must be an integer > 0; got '", text, "'"));
  }
  return n;
}

template <typename T, typename Parse>
absl::StatusOr<T> EnumValue(const std::string& key, const std::string& text, Parse parse,
                            absl::string_view allowed) {
  std::optional<T> v = parse(text);
  if (!v.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": must be one of ", allowed, "; got '", text, "'"));
  }
  return *v;
}

}  // namespace

absl::Status ReadPod(simdjson::ondemand::value pod, PodInfo* info) {
  json_type type;
  if (auto err = pod.type().get(type)) return Malformed(err);
  if (type != json_type::object) return absl::InvalidArgumentError("Pod: must be an object");
  object pod_object;
  if (auto err = pod.get_object().get(pod_object)) return Malformed(err);
  for (auto field : pod_object) {
    simdjson::ondemand::raw_json_string key;
    if (auto err = field.key().get(key)) return Malformed(err);
    if (!(key == "metadata")) continue;
    object metadata;
    if (field.value().get_object().get(metadata) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("Pod.metadata: must be an object");
    }
    for (auto m : metadata) {
      simdjson::ondemand::raw_json_string mkey;
      if (auto err = m.key().get(mkey)) return Malformed(err);
      std::string_view text;
      if (mkey == "name") {
        if (m.value().get_string().get(text) == simdjson::SUCCESS) info->name = text;
      } else if (mkey == "namespace") {
        if (m.value().get_string().get(text) == simdjson::SUCCESS) info->namespace_name = text;
      } else if (mkey == "annotations") {
        simdjson::ondemand::value v = m.value();
        json_type vt;
        if (auto err = v.type().get(vt)) return Malformed(err);
        if (vt == json_type::null) continue;
        object annotations;
        if (v.get_object().get(annotations) != simdjson::SUCCESS) {
          return absl::InvalidArgumentError("Pod.metadata.annotations: must be an object");
        }
        if (absl::Status s = ReadAnnotations(annotations, info); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PodInfo> ParsePod(std::string_view pod_json) {
  simdjson::padded_string text(pod_json);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (auto err = parser.iterate(text).get(doc)) return Malformed(err);
  simdjson::ondemand::value v;
  if (auto err = doc.get_value().get(v)) return Malformed(err);
  PodInfo info;
  if (absl::Status s = ReadPod(v, &info); !s.ok()) return s;
  return info;
}

std::string PresetForModel(std::string_view model, const core::Catalog& catalog) {
  if (model.empty()) return "";
  for (const core::ModelPreset& p : catalog.presets()) {
    if (absl::EqualsIgnoreCase(Abs(p.id), Abs(model))) return p.id;
  }
  const std::string wanted = Normalize(model);
  for (const core::ModelPreset& p : catalog.presets()) {
    if (Normalize(p.id) == wanted) return p.id;
    // Sources start with the Hugging Face repo id: "Qwen/Qwen2.5-14B config.json via ...".
    const std::string repo(absl::string_view(p.source).substr(0, p.source.find(' ')));
    if (!repo.empty() && repo.find('/') != std::string::npos && Normalize(repo) == wanted) {
      return p.id;
    }
  }
  return "";
}

absl::StatusOr<core::Workload> WorkloadFromPod(const PodInfo& pod,
                                               const config::ServiceConfig& config) {
  core::Workload w;
  w.name = pod.namespace_name.empty() ? pod.name : absl::StrCat(pod.namespace_name, "/", pod.name);
  // Unknown keys first, and the named workload before the fields that override it.
  for (const auto& [key, text] : pod.annotations) {
    const std::string_view name = std::string_view(key).substr(kAnnotationPrefix.size());
    bool known = false;
    for (std::string_view k : kKeys) known |= (k == name);
    if (!known) {
      std::vector<std::string> keys;
      for (std::string_view k : kKeys) keys.push_back(absl::StrCat("gpufit.io/", Abs(k)));
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": unknown annotation; known: ", absl::StrJoin(keys, ", ")));
    }
    if (name == "workload") {
      const core::Workload* found = nullptr;
      for (const core::Workload& c : config.workloads) {
        if (c.name == text) found = &c;
      }
      if (found == nullptr) {
        std::vector<std::string> names;
        for (const core::Workload& c : config.workloads) names.push_back(c.name);
        return absl::NotFoundError(
            absl::StrCat(key, ": no workload '", text, "' in gpufitd's config; known: ",
                         names.empty() ? "(none)" : absl::StrJoin(names, ", ")));
      }
      w = *found;
    }
  }
  for (const auto& [key, text] : pod.annotations) {
    const std::string_view name = std::string_view(key).substr(kAnnotationPrefix.size());
    if (name == "model") {
      const std::string preset = PresetForModel(text, *config.catalog);
      if (preset.empty()) {
        std::vector<std::string> ids;
        for (const core::ModelPreset& p : config.catalog->presets()) ids.push_back(p.id);
        return absl::NotFoundError(
            absl::StrCat(key, ": unknown model '", text, "'; known: ", absl::StrJoin(ids, ", ")));
      }
      w.model = preset;
      w.architecture.reset();
    } else if (name == "precision") {
      auto v = EnumValue<core::Precision>(
          key, text, [](const std::string& s) { return core::ParsePrecision(s); },
          "fp32, bf16, fp16, fp8, int8, int4");
      if (!v.ok()) return v.status();
      w.precision = *v;
    } else if (name == "target-concurrency") {
      auto v = PositiveNumber(key, text);
      if (!v.ok()) return v.status();
      w.traffic.concurrency = *v;
    } else if (name == "max-context-tokens" || name == "input-tokens" || name == "output-tokens") {
      auto v = PositiveInt(key, text);
      if (!v.ok()) return v.status();
      (name == "max-context-tokens" ? w.traffic.max_context_tokens
       : name == "input-tokens"     ? w.traffic.input_tokens
                                    : w.traffic.output_tokens) = *v;
    } else if (name == "ttft-ms" || name == "tpot-ms") {
      auto v = PositiveNumber(key, text);
      if (!v.ok()) return v.status();
      (name == "ttft-ms" ? w.slo.ttft_ms : w.slo.tpot_ms) = *v;
    } else if (name == "objective") {
      auto v = EnumValue<core::Objective>(
          key, text, [](const std::string& s) { return core::ParseObjective(s); },
          "cost, latency, throughput");
      if (!v.ok()) return v.status();
      w.objective = *v;
    } else if (name == "isolation") {
      auto v = EnumValue<core::Isolation>(
          key, text, [](const std::string& s) { return core::ParseIsolation(s); },
          "shared, dedicated");
      if (!v.ok()) return v.status();
      w.isolation = *v;
    } else if (name == "accelerators") {
      w.accelerators.clear();
      for (absl::string_view id : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
        w.accelerators.emplace_back(absl::StripAsciiWhitespace(id));
      }
    }
  }
  // A pod that states no demand is one replica's worth of one sequence.
  const core::Traffic& t = w.traffic;
  if (t.concurrency == 0 && t.requests_per_second == 0 && t.tokens_per_second == 0 &&
      t.tokens_per_day == 0) {
    w.traffic.concurrency = 1;
  }
  if (w.model.empty() && !w.architecture.has_value()) {
    return absl::InvalidArgumentError(
        "gpufit.io/model: missing (give gpufit.io/model or gpufit.io/workload)");
  }
  return w;
}

}  // namespace gpufit::k8s

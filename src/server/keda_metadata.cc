#include "server/keda_metadata.h"

#include <cmath>
#include <set>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/prometheus_url.h"
#include "core/decision.h"
#include "core/placement.h"
#include "core/precision.h"
#include "core/resolved_workload.h"
#include "core/status_macros.h"
#include "render/narration.h"

namespace gpufit::server {
namespace {

constexpr std::string_view kGpufitKeys[] = {"workload",
                                            "model",
                                            "precision",
                                            "inputTokens",
                                            "outputTokens",
                                            "maxContextTokens",
                                            "ttftMs",
                                            "tpotMs",
                                            "accelerator",
                                            "gpus",
                                            "serverAddress",
                                            "query",
                                            "activationThreshold"};
// Keys KEDA itself puts in an external trigger's metadata (scaler address and TLS to it).
constexpr std::string_view kKedaKeys[] = {"scalerAddress", "caCert",    "tlsClientCert",
                                          "tlsClientKey",  "enableTLS", "unsafeSsl",
                                          "tlsCertFile"};
// Longest PromQL accepted: it travels in the request URL, and a load query is a line or two.
constexpr size_t kMaxQueryBytes = 16 * 1024;

constexpr std::string_view kInlineKeys[] = {
    "model", "precision", "inputTokens", "outputTokens", "maxContextTokens", "ttftMs", "tpotMs"};

absl::Status Bad(std::string_view key, std::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("scalerMetadata.", std::string(key), ": ", std::string(reason)));
}

absl::Status BadValue(std::string_view key, std::string_view reason, const std::string& value) {
  return Bad(key, absl::StrCat(std::string(reason), "; got '", value, "'"));
}

bool Known(std::string_view key) {
  for (std::string_view k : kGpufitKeys) {
    if (k == key) return true;
  }
  for (std::string_view k : kKedaKeys) {
    if (k == key) return true;
  }
  return false;
}

absl::StatusOr<double> Number(const std::string& key, const std::string& value, bool allow_zero) {
  double d = 0;
  if (!absl::SimpleAtod(value, &d) || !std::isfinite(d) || d < 0 || (!allow_zero && d == 0)) {
    return BadValue(key, allow_zero ? "must be a number >= 0" : "must be a number > 0", value);
  }
  return d;
}

absl::StatusOr<int> Integer(const std::string& key, const std::string& value, int min) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min) {
    return BadValue(key, absl::StrCat("must be an integer >= ", min), value);
  }
  return n;
}

std::string KnownKeysText() {
  std::string out;
  for (std::string_view k : kGpufitKeys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

// The per-replica target does not depend on demand (core::Prediction::max_concurrency is
// the SLO and memory limit), but ResolveWorkload requires some; an inline trigger has none.
core::Workload WithDemand(core::Workload w) {
  const core::Traffic& t = w.traffic;
  if (t.concurrency <= 0 && t.requests_per_second <= 0 && t.tokens_per_second <= 0 &&
      t.tokens_per_day <= 0) {
    w.traffic.concurrency = 1;
  }
  return w;
}

}  // namespace

std::string ScalerMetricName(const std::string& name) {
  std::string out = "gpufit-";
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    out += ok ? c : '-';
  }
  return out + "-concurrency";
}

absl::StatusOr<ScalerTarget> ParseScalerMetadata(const std::map<std::string, std::string>& metadata,
                                                 const config::ServiceConfig& config) {
  for (const auto& [key, value] : metadata) {
    if (!Known(key)) {
      return Bad(key, absl::StrCat("unknown key; gpufit reads ", KnownKeysText()));
    }
  }
  const auto get = [&](std::string_view key) -> const std::string* {
    auto it = metadata.find(std::string(key));
    return it == metadata.end() ? nullptr : &it->second;
  };

  ScalerTarget target;
  if (const std::string* name = get("workload"); name != nullptr) {
    for (std::string_view k : kInlineKeys) {
      if (get(k) != nullptr) {
        return Bad(k,
                   "not allowed with scalerMetadata.workload (the configured workload "
                   "defines it)");
      }
    }
    const core::Workload* found = nullptr;
    std::vector<std::string> names;
    for (const core::Workload& w : config.workloads) {
      names.push_back(w.name);
      if (w.name == *name) found = &w;
    }
    if (found == nullptr) {
      return BadValue("workload",
                      names.empty() ? std::string("no workloads in gpufitd's config")
                                    : absl::StrCat("not a workload in gpufitd's config (",
                                                   absl::StrJoin(names, ", "), ")"),
                      *name);
    }
    target.workload = *found;
    target.workload_name = *name;
    target.configured_load = found->traffic.concurrency;
  } else {
    const std::string* model = get("model");
    if (model == nullptr || model->empty()) {
      return Bad("workload",
                 "required: a workload in gpufitd's config, or the model inline (scalerMetadata."
                 "model and optionally precision, inputTokens, outputTokens, maxContextTokens, "
                 "ttftMs, tpotMs)");
    }
    core::Workload& w = target.workload;
    w.name = *model;
    w.model = *model;
    if (const std::string* p = get("precision"); p != nullptr) {
      const std::optional<core::Precision> precision = core::ParsePrecision(*p);
      if (!precision.has_value()) return BadValue("precision", "unknown precision", *p);
      w.precision = *precision;
    }
    if (const std::string* v = get("inputTokens"); v != nullptr) {
      GPUFIT_ASSIGN_OR_RETURN(w.traffic.input_tokens, Integer("inputTokens", *v, 1));
    }
    if (const std::string* v = get("outputTokens"); v != nullptr) {
      GPUFIT_ASSIGN_OR_RETURN(w.traffic.output_tokens, Integer("outputTokens", *v, 1));
    }
    if (const std::string* v = get("maxContextTokens"); v != nullptr) {
      GPUFIT_ASSIGN_OR_RETURN(w.traffic.max_context_tokens, Integer("maxContextTokens", *v, 1));
    }
    if (const std::string* v = get("ttftMs"); v != nullptr) {
      GPUFIT_ASSIGN_OR_RETURN(w.slo.ttft_ms, Number("ttftMs", *v, false));
    }
    if (const std::string* v = get("tpotMs"); v != nullptr) {
      GPUFIT_ASSIGN_OR_RETURN(w.slo.tpot_ms, Number("tpotMs", *v, false));
    }
  }
  target.metric_name = ScalerMetricName(target.workload.name);

  const std::string* accelerator = get("accelerator");
  if (accelerator == nullptr || accelerator->empty()) {
    return Bad("accelerator",
               "required: the accelerator id the scaled Deployment runs on (e.g. l4, "
               "a100-80gb/3g.40gb)");
  }
  if (config.catalog->FindAccelerator(*accelerator) == nullptr) {
    return BadValue("accelerator", "unknown accelerator (see gpufit catalog)", *accelerator);
  }
  target.accelerator = *accelerator;
  if (const std::string* v = get("gpus"); v != nullptr) {
    GPUFIT_ASSIGN_OR_RETURN(target.gpus, Integer("gpus", *v, 1));
  }

  const std::string* server = get("serverAddress");
  const std::string* query = get("query");
  if (server != nullptr && query == nullptr) {
    return Bad("query",
               "required with scalerMetadata.serverAddress (the live load is a PromQL query on "
               "a Prometheus server)");
  }
  if (query != nullptr) {
    if (query->empty()) return Bad("query", "must not be empty");
    if (query->size() > kMaxQueryBytes) {
      return Bad("query", absl::StrCat("longer than ", kMaxQueryBytes, " bytes"));
    }
    // Only a server gpufitd's own config lists: the trigger comes from any gRPC client, and
    // gpufitd must not connect where a client says (server-side request forgery).
    if (server != nullptr) {
      absl::StatusOr<std::string> allowed =
          config::MatchPrometheusServer(config.prometheus_servers, *server);
      if (!allowed.ok()) return Bad("serverAddress", std::string(allowed.status().message()));
      target.server_address = *std::move(allowed);
    } else if (!config.prometheus_servers.empty()) {
      target.server_address = config.prometheus_servers.front();
    } else {
      return Bad("serverAddress",
                 "required with scalerMetadata.query: gpufitd's config lists no Prometheus "
                 "server to default to (prometheus.servers)");
    }
    target.query = *query;
  } else if (target.workload_name.empty()) {
    return Bad("query", "required with an inline model (there is no configured load)");
  } else if (target.configured_load <= 0) {
    return Bad("query", absl::StrCat("required: workload '", target.workload_name,
                                     "' has no traffic.concurrency to use as the load"));
  }
  if (const std::string* v = get("activationThreshold"); v != nullptr) {
    GPUFIT_ASSIGN_OR_RETURN(target.activation_threshold, Number("activationThreshold", *v, true));
  }

  // Resolve now, so that a workload the catalog cannot describe is the metadata's error.
  absl::StatusOr<core::ResolvedWorkload> resolved =
      core::ResolveWorkload(WithDemand(target.workload), *config.catalog, "scalerMetadata");
  if (!resolved.ok()) {
    // The core names workload fields ("scalerMetadata.slo.ttft_ms: must be <= ..."); the
    // trigger author wrote metadata keys, so name the key they set.
    static constexpr std::pair<std::string_view, std::string_view> kKeyOf[] = {
        {"scalerMetadata.slo.ttft_ms", "scalerMetadata.ttftMs"},
        {"scalerMetadata.slo.tpot_ms", "scalerMetadata.tpotMs"},
        {"scalerMetadata.traffic.input_tokens", "scalerMetadata.inputTokens"},
        {"scalerMetadata.traffic.output_tokens", "scalerMetadata.outputTokens"},
        {"scalerMetadata.traffic.max_context_tokens", "scalerMetadata.maxContextTokens"},
    };
    std::string message(resolved.status().message());
    for (const auto& [path, key] : kKeyOf) {
      if (message.rfind(path, 0) == 0 && message.size() > path.size() &&
          message[path.size()] == ':') {
        message = std::string(key) + message.substr(path.size());
        break;
      }
    }
    return absl::InvalidArgumentError(message);
  }
  return target;
}

absl::StatusOr<double> PerReplicaTarget(const core::Workload& workload,
                                        const std::string& accelerator, int gpus,
                                        const config::ServiceConfig& config) {
  GPUFIT_ASSIGN_OR_RETURN(const core::ResolvedWorkload resolved,
                          core::ResolveWorkload(WithDemand(workload), *config.catalog, "workload"));
  GPUFIT_ASSIGN_OR_RETURN(const core::Option option,
                          core::PredictOption(resolved, *config.catalog, accelerator, gpus));
  if (!option.feasible || option.prediction.max_concurrency <= 0) {
    const std::string why = render::RejectionText(option);
    return absl::FailedPreconditionError(absl::StrCat(
        "accelerator: '", accelerator, "' with ", gpus, " GPU(s) per replica cannot serve '",
        workload.name, "'", why.empty() ? std::string() : ": " + why));
  }
  return option.prediction.max_concurrency;
}

}  // namespace gpufit::server

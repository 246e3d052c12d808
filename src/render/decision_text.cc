#include "render/decision_text.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/task.h"
#include "render/text_table.h"

namespace gpufit::render {
namespace {

namespace v1 = ::gpufit::v1;
using Align = TextTable::Align;

// Prices under a dollar get a third decimal: $/1M tokens is often a few cents.
std::string Usd(double usd) {
  return std::fabs(usd) < 1 ? absl::StrFormat("$%.3f", usd) : absl::StrFormat("$%.2f", usd);
}

// "-" for quantities the model did not produce (zero), so a blank reads as "not computed"
// rather than "zero".
std::string Fixed0(double v) { return v == 0 ? "-" : absl::StrFormat("%.0f", v); }
std::string Fixed1(double v) { return v == 0 ? "-" : absl::StrFormat("%.1f", v); }

// A rate with the digits that matter: 1328, 12.5, 0.075 (images/s can be well below 1).
std::string Rate(double v) {
  if (v == 0) return "-";
  if (std::fabs(v) >= 100) return absl::StrFormat("%.0f", v);
  if (std::fabs(v) >= 1) return absl::StrFormat("%.1f", v);
  return absl::StrFormat("%.3f", v);
}

// "output tokens", "images", "audio-seconds": what usd_per_million_tokens counts.
std::string UnitPlural(std::string_view unit) {
  if (unit.empty() || unit == "token") return "output tokens";
  return std::string(unit) + "s";
}

bool IsTokenUnit(std::string_view unit) { return unit.empty() || unit == "token"; }

double Throughput(const v1::Option& o, std::string_view unit) {
  return IsTokenUnit(unit) ? o.output_tokens_per_second() : o.items_per_second();
}

std::string GpusPerReplica(int gpus) {
  return absl::StrCat("x", gpus, gpus == 1 ? " GPU/replica" : " GPUs/replica");
}

std::string Replicas(int n) { return absl::StrCat(n, n == 1 ? " replica" : " replicas"); }

std::string Fits(const v1::Option& o) {
  const v1::MemoryBreakdown& m = o.memory();
  if (m.total_gib() == 0 && m.usable_gib() == 0) return "-";
  const bool fits = o.feasible() || o.reject_class() != "memory";
  return absl::StrFormat("%s %.1f/%.1f", fits ? "yes" : "no", m.total_gib(), m.usable_gib());
}

}  // namespace

std::string Headline(const v1::Decision& d) {
  if (!d.has_recommendation()) {
    return absl::StrCat("Recommendation: none; no option can serve workload '", d.workload_name(),
                        "'");
  }
  const v1::Option& r = d.recommendation();
  std::string line =
      absl::StrCat("Recommendation: ", r.accelerator(), " ", GpusPerReplica(r.gpus_per_replica()),
                   ", ", Replicas(r.replicas()), ", ", Usd(r.cost_usd_per_hour()), "/h");
  if (r.training_hours() > 0) {
    absl::StrAppendFormat(&line, "; the job takes %.1f h and costs %s", r.training_hours(),
                          Usd(r.training_cost_usd()));
  } else if (r.usd_per_million_tokens() > 0) {
    absl::StrAppend(&line, " (", Usd(r.usd_per_million_tokens()), " per 1M ", UnitPlural(d.unit()),
                    ")");
  }
  return line;
}

void RenderDecision(const v1::Decision& d, std::ostream& out) {
  out << Headline(d) << '\n';
  if (!d.explanation().empty()) out << "Why: " << d.explanation() << '\n';
  int feasible = 0;
  bool training = false;
  for (const v1::Option& o : d.options()) {
    if (o.feasible()) ++feasible;
    if (o.training_hours() > 0) training = true;
  }
  out << absl::StrFormat("Workload '%s', catalog %s: %d options evaluated, %d feasible.\n\n",
                         d.workload_name(), d.catalog_version(), d.options_size(), feasible);

  const bool tokens = IsTokenUnit(d.unit());
  TextTable table;
  table.AddColumn("RANK", Align::kRight);
  table.AddColumn("ACCELERATOR");
  table.AddColumn("GPUS", Align::kRight);
  table.AddColumn("FITS GiB USED/USABLE");
  table.AddColumn(tokens ? "TOK/S/REPLICA" : "ITEMS/S/REPLICA", Align::kRight);
  table.AddColumn("TTFT MS", Align::kRight);
  table.AddColumn("TPOT MS", Align::kRight);
  table.AddColumn("REPLICAS", Align::kRight);
  table.AddColumn("$/H", Align::kRight);
  if (training) {
    table.AddColumn("JOB H", Align::kRight);
    table.AddColumn("JOB $", Align::kRight);
  } else {
    table.AddColumn(tokens ? "$/1M TOK" : absl::StrCat("$/1M ", UnitPlural(d.unit())),
                    Align::kRight);
  }
  table.AddColumn("WHY NOT");
  for (const v1::Option& o : d.options()) {
    // Replicas and prices only mean something for an option that can serve the workload.
    const bool ok = o.feasible();
    const double throughput = Throughput(o, d.unit());
    std::vector<std::string> row = {
        ok ? absl::StrCat(o.rank()) : "-",
        o.accelerator(),
        absl::StrCat(o.gpus_per_replica()),
        Fits(o),
        Rate(throughput),
        Fixed1(o.ttft_ms()),
        Fixed1(o.tpot_ms()),
        ok ? absl::StrCat(o.replicas()) : "-",
        ok ? Usd(o.cost_usd_per_hour()) : "-",
    };
    if (training) {
      row.push_back(ok ? Fixed1(o.training_hours()) : "-");
      row.push_back(ok ? Usd(o.training_cost_usd()) : "-");
    } else {
      row.push_back(ok && o.usd_per_million_tokens() > 0 ? Usd(o.usd_per_million_tokens()) : "-");
    }
    row.push_back(o.reason());
    table.AddRow(std::move(row));
  }
  table.Render(out);
}

void RenderPrediction(const v1::Option& o, std::string_view workload_name, std::string_view unit,
                      std::ostream& out) {
  const std::string unit_plural = UnitPlural(unit);
  out << absl::StrFormat("Prediction: workload '%s' on %s %s\n", workload_name, o.accelerator(),
                         GpusPerReplica(o.gpus_per_replica()));
  auto line = [&out](std::string_view label, const std::string& value) {
    out << absl::StrFormat("  %-26s %s\n", std::string(label) + ":", value);
  };
  line("feasible", o.feasible() ? "yes" : absl::StrCat("no (", o.reason(), ")"));
  // An option rejected before it was modelled (e.g. it does not fit) has no performance.
  const bool modelled = o.feasible() || o.output_tokens_per_second() > 0 ||
                        o.items_per_second() > 0 || o.training_hours() > 0;
  if (modelled && IsTokenUnit(unit)) {
    line("output_tokens_per_second",
         absl::StrFormat("%.0f per replica at %.0f concurrent requests",
                         o.output_tokens_per_second(), o.concurrency_per_replica()));
    line("ttft_ms", absl::StrFormat("%.1f", o.ttft_ms()));
    line("tpot_ms", absl::StrFormat("%.2f", o.tpot_ms()));
    line("max_concurrency", absl::StrFormat("%.0f requests per replica at the SLO (%.0f tok/s)",
                                            o.max_concurrency(), o.max_output_tokens_per_second()));
  } else if (modelled) {
    line("items_per_second",
         absl::StrCat(Rate(o.items_per_second()), " ", unit_plural, "/s per replica"));
    if (o.max_concurrency() > 0) {
      line("max_concurrency", absl::StrFormat("%.0f per replica", o.max_concurrency()));
    }
  }
  if (o.training_hours() > 0) {
    line("training",
         absl::StrFormat("%.1f h, %s for the job", o.training_hours(), Usd(o.training_cost_usd())));
  }
  const v1::MemoryBreakdown& m = o.memory();
  line("memory per GPU",
       absl::StrFormat("%.1f GiB of %.1f GiB usable", m.total_gib(), m.usable_gib()));
  line("  weights", absl::StrFormat("%.2f GiB", m.weights_gib()));
  line("  kv_cache", absl::StrFormat("%.2f GiB", m.kv_cache_gib()));
  line("  activations", absl::StrFormat("%.2f GiB", m.activations_gib()));
  if (m.optimizer_gib() > 0) line("  optimizer", absl::StrFormat("%.2f GiB", m.optimizer_gib()));
  line("  overhead", absl::StrFormat("%.2f GiB", m.overhead_gib()));
  if (o.feasible()) {
    line("replicas", absl::StrCat(o.replicas()));
    std::string cost = absl::StrCat(Usd(o.cost_usd_per_hour()), "/h (",
                                    Usd(o.replica_cost_usd_per_hour()), "/h per replica)");
    if (o.usd_per_million_tokens() > 0) {
      absl::StrAppend(&cost, ", ", Usd(o.usd_per_million_tokens()), " per 1M ", unit_plural);
    }
    line("cost", cost);
    line("power", absl::StrFormat("%.0f W, %s/year", o.watts(), Usd(o.energy_usd_per_year())));
  }
}

void RenderCatalog(const core::Catalog& catalog, std::ostream& out) {
  out << absl::StrFormat("Catalog %s: %d accelerators (including MIG slices), %d model presets\n\n",
                         catalog.version(), catalog.accelerators().size(),
                         catalog.presets().size());
  TextTable gpus;
  gpus.AddColumn("ACCELERATOR");
  gpus.AddColumn("MEMORY GiB", Align::kRight);
  gpus.AddColumn("BW GB/S", Align::kRight);
  gpus.AddColumn("FP16 TFLOPS", Align::kRight);
  gpus.AddColumn("FP8 TFLOPS", Align::kRight);
  gpus.AddColumn("INT8 TOPS", Align::kRight);
  gpus.AddColumn("TDP W", Align::kRight);
  gpus.AddColumn("NVLINK GB/S", Align::kRight);
  gpus.AddColumn("$/H", Align::kRight);
  gpus.AddColumn("NAME");
  for (const core::Accelerator& a : catalog.accelerators()) {
    gpus.AddRow({a.id, absl::StrFormat("%.1f", a.memory_gib),
                 absl::StrFormat("%.0f", a.memory_bandwidth_gbps), Fixed1(a.fp16_tflops),
                 Fixed1(a.fp8_tflops), Fixed0(a.int8_tops), Fixed0(a.tdp_watts),
                 Fixed0(a.nvlink_gbps), Usd(a.price_usd_per_hour), a.display_name});
  }
  gpus.Render(out);
  out << '\n';
  TextTable presets;
  presets.AddColumn("MODEL");
  presets.AddColumn("PARAMS B", Align::kRight);
  presets.AddColumn("TASK");
  presets.AddColumn("CONTEXT", Align::kRight);
  presets.AddColumn("NAME");
  for (const core::ModelPreset& m : catalog.presets()) {
    presets.AddRow({m.id, absl::StrFormat("%.2f", m.architecture.parameters_billion),
                    std::string(core::TaskName(m.task)),
                    m.max_context_tokens > 0 ? absl::StrCat(m.max_context_tokens) : "-",
                    m.display_name});
  }
  presets.Render(out);
}

}  // namespace gpufit::render

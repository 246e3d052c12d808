#include "k8s/node_inventory.h"

#include <algorithm>
#include <cctype>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
#include "k8s/json_readers.h"

namespace gpufit::k8s {
namespace {

using simdjson::ondemand::object;
using simdjson::ondemand::value;

constexpr std::string_view kNvidiaPrefix = "nvidia.com/";
constexpr std::string_view kMigResourcePrefix = "nvidia.com/mig-";
constexpr std::string_view kSharedSuffix = "-SHARED";  // GFD time-slicing rename
constexpr std::string_view kMigInfix = "-MIG-";        // GFD MIG strategy single product

// GFD prints the driver's product name with spaces replaced by '-'. Sources: NVIDIA GPU
// Feature Discovery label docs and the names `nvidia-smi --query-gpu=name` prints.
struct ProductEntry {
  std::string_view product;  // upper case
  std::string_view id;
  bool nvlink;
};
constexpr ProductEntry kProducts[] = {
    {"TESLA-T4", "t4", false},
    {"NVIDIA-T4", "t4", false},
    {"NVIDIA-L4", "l4", false},
    {"NVIDIA-A10G", "a10g", false},
    {"NVIDIA-L40S", "l40s", false},
    {"NVIDIA-A100-SXM4-40GB", "a100-40gb", true},
    {"NVIDIA-A100-PCIE-40GB", "a100-40gb", false},
    {"NVIDIA-A100-SXM4-80GB", "a100-80gb", true},
    {"NVIDIA-A100-80GB-PCIE", "a100-80gb", false},
    {"NVIDIA-H100-80GB-HBM3", "h100-80gb", true},
    {"NVIDIA-H100-SXM5-80GB", "h100-80gb", true},
    {"NVIDIA-H100-PCIE", "h100-80gb", false},
    {"NVIDIA-H200", "h200-141gb", true},
    {"NVIDIA-H200-141GB-HBM3E", "h200-141gb", true},
};

bool ParseCount(std::string_view text, int* out) {
  int n = 0;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &n) || n < 0) return false;
  *out = n;
  return true;
}

// A label or quantity value as text; numbers are accepted too (quantities are strings on the
// wire, but a tolerant reader costs nothing).
bool ValueText(value v, std::string_view* out) {
  simdjson::ondemand::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) return false;
  if (type == simdjson::ondemand::json_type::string) return v.get_string().get(*out) == 0;
  if (type == simdjson::ondemand::json_type::number) {
    *out = v.raw_json_token();
    while (!out->empty() && std::isspace(static_cast<unsigned char>(out->back()))) {
      out->remove_suffix(1);
    }
    return true;
  }
  return false;
}

bool IsObject(value v) {
  simdjson::ondemand::json_type type;
  return v.type().get(type) == simdjson::SUCCESS && type == simdjson::ondemand::json_type::object;
}

simdjson::error_code ReadLabels(object labels, NodeFacts* facts) {
  for (auto field : labels) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (!absl::StartsWith(absl::string_view(key.data(), key.size()), "nvidia.com/")) continue;
    std::string_view name = key.substr(kNvidiaPrefix.size());
    std::string_view text;
    if (!ValueText(field.value(), &text)) continue;
    if (name == "gpu.product") {
      facts->product = std::string(text);
    } else if (name == "mig.strategy") {
      facts->mig_strategy = std::string(text);
    } else if (name == "gpu.count") {
      ParseCount(text, &facts->gpu_count);
    } else if (name == "gpu.replicas") {
      ParseCount(text, &facts->gpu_replicas);
    } else if (name.size() > 10 && name.substr(0, 4) == "mig-" &&
               name.substr(name.size() - 6) == ".count") {
      int n = 0;
      if (ParseCount(text, &n)) {
        facts->mig_counts.emplace_back(std::string(name.substr(4, name.size() - 10)), n);
      }
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ReadAllocatable(object allocatable, NodeFacts* facts) {
  for (auto field : allocatable) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (key.substr(0, kNvidiaPrefix.size()) != kNvidiaPrefix) continue;
    std::string_view text;
    int n = 0;
    if (ValueText(field.value(), &text) && ParseCount(text, &n)) {
      facts->allocatable.emplace_back(std::string(key), n);
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ReadMetadata(object metadata, NodeFacts* facts) {
  for (auto field : metadata) {
    simdjson::ondemand::raw_json_string key;
    if (auto err = field.key().get(key)) return err;
    if (key == "name") {
      std::string_view name;
      if (field.value().get_string().get(name) == simdjson::SUCCESS) facts->name = name;
    } else if (key == "resourceVersion") {
      std::string_view rv;
      if (field.value().get_string().get(rv) == simdjson::SUCCESS) facts->resource_version = rv;
    } else if (key == "labels") {
      value v = field.value();
      if (!IsObject(v)) continue;
      object labels;
      if (auto err = v.get_object().get(labels)) return err;
      if (auto err = ReadLabels(labels, facts)) return err;
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ReadStatus(object status, NodeFacts* facts) {
  for (auto field : status) {
    simdjson::ondemand::raw_json_string key;
    if (auto err = field.key().get(key)) return err;
    if (key == "allocatable") {
      value v = field.value();
      if (!IsObject(v)) continue;
      object allocatable;
      if (auto err = v.get_object().get(allocatable)) return err;
      if (auto err = ReadAllocatable(allocatable, facts)) return err;
    }
  }
  return simdjson::SUCCESS;
}

int AllocatableOf(const NodeFacts& facts, std::string_view resource) {
  for (const auto& [name, n] : facts.allocatable) {
    if (name == resource) return n;
  }
  return -1;
}

}  // namespace

absl::Status ReadNodeFacts(object node, NodeFacts* facts) {
  simdjson::error_code err = simdjson::SUCCESS;
  for (auto field : node) {
    simdjson::ondemand::raw_json_string key;
    if ((err = field.key().get(key))) break;
    if (key == "metadata" || key == "status") {
      value v = field.value();
      if (!IsObject(v)) continue;
      object inner;
      if ((err = v.get_object().get(inner))) break;
      if ((err = key == "metadata" ? ReadMetadata(inner, facts) : ReadStatus(inner, facts))) break;
    }
  }
  if (err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(std::string("node: malformed JSON: ") +
                                      simdjson::error_message(err));
  }
  if (facts->name.empty()) return absl::InvalidArgumentError("node: metadata.name: missing");
  return absl::OkStatus();
}

absl::StatusOr<NodeFacts> ParseNodeFacts(std::string_view node_json) {
  simdjson::padded_string text(node_json);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object node;
  if (auto err = parser.iterate(text).get(doc)) {
    return absl::InvalidArgumentError(std::string("node: malformed JSON: ") +
                                      simdjson::error_message(err));
  }
  if (doc.get_object().get(node) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("node: must be a JSON object");
  }
  NodeFacts facts;
  if (absl::Status s = ReadNodeFacts(node, &facts); !s.ok()) return s;
  return facts;
}

std::string AcceleratorIdForProduct(std::string_view product, bool* nvlink) {
  std::string upper = absl::AsciiStrToUpper(absl::string_view(product.data(), product.size()));
  std::replace(upper.begin(), upper.end(), ' ', '-');
  for (const ProductEntry& e : kProducts) {
    if (e.product == upper) {
      if (nvlink != nullptr) *nvlink = e.nvlink;
      return std::string(e.id);
    }
  }
  return "";
}

namespace {

NodeInventory BuildInventoryWithoutHash(const NodeFacts& facts) {
  NodeInventory inv;
  inv.name = facts.name;
  inv.resource_version = facts.resource_version;
  if (facts.product.empty()) return inv;
  inv.has_gpu_labels = true;

  std::string_view product = facts.product;
  bool time_sliced = false;
  if (product.size() > kSharedSuffix.size() &&
      absl::EqualsIgnoreCase(
          absl::string_view(product.data() + product.size() - kSharedSuffix.size(),
                            kSharedSuffix.size()),
          absl::string_view(kSharedSuffix.data(), kSharedSuffix.size()))) {
    time_sliced = true;
    product.remove_suffix(kSharedSuffix.size());
  }
  // MIG strategy single: every nvidia.com/gpu is a slice of this profile.
  std::string single_profile;
  if (const size_t mig = product.find(kMigInfix); mig != std::string_view::npos) {
    single_profile = std::string(product.substr(mig + kMigInfix.size()));
    product = product.substr(0, mig);
  }
  bool nvlink = false;
  const std::string id = AcceleratorIdForProduct(product, &nvlink);
  if (id.empty()) {
    inv.unknown_product = facts.product;
    return inv;
  }
  const int gpu_allocatable = std::max(0, AllocatableOf(facts, "nvidia.com/gpu"));

  NodeAccelerator main;
  main.accelerator_id = single_profile.empty() ? id : id + "/" + single_profile;
  main.resource = "nvidia.com/gpu";
  main.allocatable = gpu_allocatable;
  main.count = facts.gpu_count >= 0 ? facts.gpu_count : gpu_allocatable;
  if (time_sliced && facts.gpu_replicas > 1) {
    // The allocatable count is GPUs x replicas; the label counts physical GPUs.
    main.count = std::max(main.count, 1);
  }
  main.nvlink = nvlink && single_profile.empty() && !time_sliced;
  main.time_sliced = time_sliced;
  // Under the mixed strategy a fully partitioned node advertises no whole GPU at all.
  const bool mixed = facts.mig_strategy == "mixed";
  if (!mixed || gpu_allocatable > 0 || facts.mig_counts.empty()) {
    inv.accelerators.push_back(std::move(main));
  }
  if (mixed) {
    for (const auto& [profile, n] : facts.mig_counts) {
      NodeAccelerator slice;
      slice.accelerator_id = id + "/" + profile;
      slice.resource = std::string(kMigResourcePrefix) + profile;
      slice.count = n;
      slice.allocatable = std::max(0, AllocatableOf(facts, slice.resource));
      slice.nvlink = false;
      inv.accelerators.push_back(std::move(slice));
    }
  }
  return inv;
}

}  // namespace

NodeInventory BuildInventory(const NodeFacts& facts) {
  NodeInventory inv = BuildInventoryWithoutHash(facts);
  inv.shape_hash = ShapeHash(inv);
  return inv;
}

size_t ShapeHash(const NodeInventory& node) {
  size_t h = absl::HashOf(node.has_gpu_labels, node.unknown_product, node.accelerators.size());
  for (const NodeAccelerator& a : node.accelerators) {
    h = absl::HashOf(h, a.accelerator_id, a.resource, a.count, a.allocatable, a.nvlink,
                     a.time_sliced);
  }
  return h;
}

bool SameShape(const NodeInventory& a, const NodeInventory& b) {
  if (a.has_gpu_labels != b.has_gpu_labels || a.unknown_product != b.unknown_product ||
      a.accelerators.size() != b.accelerators.size()) {
    return false;
  }
  for (size_t i = 0; i < a.accelerators.size(); ++i) {
    const NodeAccelerator& x = a.accelerators[i];
    const NodeAccelerator& y = b.accelerators[i];
    if (x.count != y.count || x.allocatable != y.allocatable || x.nvlink != y.nvlink ||
        x.time_sliced != y.time_sliced || x.accelerator_id != y.accelerator_id ||
        x.resource != y.resource) {
      return false;
    }
  }
  return true;
}

}  // namespace gpufit::k8s

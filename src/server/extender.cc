#include "server/extender.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/decision.h"
#include "core/placement.h"
#include "core/resolved_workload.h"
#include "k8s/json_readers.h"
#include "k8s/node_inventory.h"
#include "k8s/pod_workload.h"
#include "render/narration.h"
#include "simdjson.h"

namespace gpufit::server {
namespace {

using metrics::ExtenderOutcome;
using metrics::ExtenderVerb;
using metrics::FilterReason;
using simdjson::ondemand::json_type;

constexpr char kJson[] = "application/json";

// --- JSON output -------------------------------------------------------------------------------

void AppendJsonStringSlow(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xf]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

bool NeedsEscape(std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

// Node names (DNS subdomains) never need escaping: copy them in one piece.
void AppendJsonString(std::string* out, std::string_view s) {
  if (NeedsEscape(s)) {
    AppendJsonStringSlow(out, s);
    return;
  }
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

HttpResponse BadRequest(std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(&body, message);
  body.push_back('}');
  return HttpResponse{400, kJson, std::move(body)};
}

// --- Request -----------------------------------------------------------------------------------

struct NodeItem {
  std::string_view raw;  // the item's exact JSON text
  k8s::NodeInventory inventory;
};

struct ExtenderArgs {
  k8s::PodInfo pod;
  bool has_pod = false;
  bool nodes_mode = false;  // `Nodes` is non-null
  std::vector<NodeItem> items;
  // Into the body, or into the parser's string buffer for names with escapes.
  std::vector<std::string_view> node_names;
  bool views_into_parser = false;  // some node_names point into the parser
  // The JSON text parsed: the body itself, or the thread's padded copy of it.
  const char* input_begin = nullptr;
  const char* input_end = nullptr;
};

static_assert(kHttpBodyPaddingBytes >= simdjson::SIMDJSON_PADDING,
              "HTTP bodies must carry simdjson's padding to be parsed in place");

// A worker thread keeps its parser (and padded copy buffer) between calls only up to this
// capacity in input bytes: simdjson's On Demand parser holds ~6.7 bytes per byte of capacity
// (5/3 for unescaped strings, 4 for structural indexes), so one 60 MB body would otherwise
// leave ~400 MB with the thread that parsed it, for good. 1 MiB covers NodeNames calls of
// any real cluster (5000 names are ~60 KB) and small Nodes calls; larger ones allocate and
// free per call, which costs little next to parsing them.
constexpr size_t kRetainedParserCapacityBytes = 1 << 20;

// One parser and padded input buffer per server thread: simdjson reuses their memory.
struct ThreadParser {
  simdjson::ondemand::parser parser;
  std::unique_ptr<char[]> buffer;  // for bodies without padding of their own
  size_t capacity = 0;
};

ThreadParser& LocalParser() {
  thread_local ThreadParser p;
  return p;
}

// Drops the thread's parser and (unless `keep_copy`) its copy buffer if they grew past
// kRetainedParserCapacityBytes. Nothing may point into what is dropped any more.
void TrimThreadParser(bool keep_copy = false) {
  ThreadParser& tp = LocalParser();
  if (tp.parser.capacity() > kRetainedParserCapacityBytes) {
    tp.parser = simdjson::ondemand::parser();
  }
  if (!keep_copy && tp.capacity > kRetainedParserCapacityBytes + simdjson::SIMDJSON_PADDING) {
    tp.buffer.reset();
    tp.capacity = 0;
  }
}

// TrimThreadParser() at the end of a call (declare it before everything that points into the
// parser, so that it runs after they are gone).
class ParserTrim {
 public:
  ParserTrim() = default;
  ParserTrim(const ParserTrim&) = delete;
  ParserTrim& operator=(const ParserTrim&) = delete;
  ~ParserTrim() { TrimThreadParser(); }
};

absl::Status Malformed(simdjson::error_code err) {
  return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", simdjson::error_message(err)));
}

#define EXT_TRY(expr)                               \
  do {                                              \
    if (auto err_ = (expr)) return Malformed(err_); \
  } while (false)

// Duplicate node names are found with a set of indices into the call's node list: a slot is
// 4 bytes instead of a copy of the name, which matters when a body of 60 MB is all short
// names or minimal Node objects.
std::string_view NameAt(const std::vector<std::string_view>& names, uint32_t i) { return names[i]; }
std::string_view NameAt(const std::vector<NodeItem>& items, uint32_t i) {
  return items[i].inventory.name;
}
template <typename List>
struct NameIndexHash {
  const List* list;
  size_t operator()(uint32_t i) const { return absl::Hash<std::string_view>()(NameAt(*list, i)); }
};
template <typename List>
struct NameIndexEq {
  const List* list;
  bool operator()(uint32_t a, uint32_t b) const { return NameAt(*list, a) == NameAt(*list, b); }
};
template <typename List>
using NameIndexSet = absl::flat_hash_set<uint32_t, NameIndexHash<List>, NameIndexEq<List>>;

// The elements of `array`, counted in one pass over the structural indexes, so that vectors and
// sets get their final size at once instead of growing (old and new copies held at once).
// Nodes one call may name, either way. Kubernetes supports clusters of up to 5,000 nodes
// ("Considerations for large clusters", kubernetes.io/docs/setup/best-practices/cluster-large);
// 3x that is no real cluster. What a call holds per node (its inventory and answer entry,
// ~200 B) is then bounded whatever the body: without the cap a body of minimal Node objects
// ({"metadata":{"name":"a"}}, 27 bytes each) costs 7.7x its size, with it ~3x.
constexpr size_t kMaxNodesPerCall = 15'000;

absl::Status CheckNodeCount(std::string_view field, size_t count) {
  if (count <= kMaxNodesPerCall) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": at most ", kMaxNodesPerCall,
                                                 " nodes per call (Kubernetes supports 5000 "
                                                 "per cluster); got ",
                                                 count));
}

simdjson::error_code CountElements(simdjson::ondemand::array& array, size_t* count) {
  if (auto err = array.count_elements().get(*count)) return err;
  return *count > std::numeric_limits<uint32_t>::max() ? simdjson::CAPACITY : simdjson::SUCCESS;
}

absl::Status ReadNodes(simdjson::ondemand::value nodes, ExtenderArgs* args) {
  json_type type;
  EXT_TRY(nodes.type().get(type));
  if (type == json_type::null) return absl::OkStatus();
  if (type != json_type::object) return absl::InvalidArgumentError("Nodes: must be an object");
  args->nodes_mode = true;
  simdjson::ondemand::object list;
  EXT_TRY(nodes.get_object().get(list));
  for (auto field : list) {
    simdjson::ondemand::raw_json_string key;
    EXT_TRY(field.key().get(key));
    if (!(key == "items")) continue;
    simdjson::ondemand::value items_value;
    EXT_TRY(field.value().get(items_value));
    EXT_TRY(items_value.type().get(type));
    if (type == json_type::null) continue;
    if (type != json_type::array)
      return absl::InvalidArgumentError("Nodes.items: must be an array");
    simdjson::ondemand::array items;
    EXT_TRY(items_value.get_array().get(items));
    size_t count = 0;
    EXT_TRY(CountElements(items, &count));
    if (absl::Status s = CheckNodeCount("Nodes.items", args->items.size() + count); !s.ok()) {
      return s;
    }
    args->items.reserve(args->items.size() + count);
    NameIndexSet<std::vector<NodeItem>> seen_names(count, {&args->items}, {&args->items});
    for (auto item_result : items) {
      simdjson::ondemand::value item;
      EXT_TRY(item_result.get(item));
      EXT_TRY(item.type().get(type));
      if (type != json_type::object) {
        return absl::InvalidArgumentError(
            absl::StrCat("Nodes.items[", args->items.size(), "]: must be an object"));
      }
      const char* start = item.raw_json_token().data();
      simdjson::ondemand::object node;
      EXT_TRY(item.get_object().get(node));
      k8s::NodeFacts facts;
      if (absl::Status s = k8s::ReadNodeFacts(node, &facts); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Nodes.items[", args->items.size(), "]: ", s.message()));
      }
      // The object is consumed: the iterator stands on the ',' or ']' after its '}'.
      const char* end = nullptr;
      EXT_TRY(item.current_location().get(end));
      while (end > start &&
             (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t')) {
        --end;
      }
      if (end <= start || end[-1] != '}') {
        return absl::InternalError("Nodes.items: cannot delimit a node object");
      }
      args->items.push_back(NodeItem{std::string_view(start, static_cast<size_t>(end - start)),
                                     k8s::BuildInventory(facts)});
      // Node names key the answer's FailedNodes maps: a repeated name would make them
      // ambiguous JSON (and kube-scheduler never sends one twice).
      const auto index = static_cast<uint32_t>(args->items.size() - 1);
      if (!seen_names.insert(index).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Nodes.items[", index, "].metadata.name: duplicate node name '", facts.name, "'"));
      }
    }
  }
  return absl::OkStatus();
}

// A string value's text without a copy when it has no escapes (node names never do): the
// bytes between its quotes in the input. Else unescaped into the parser's string buffer.
simdjson::error_code StringView(simdjson::ondemand::value value, std::string_view* text) {
  json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type != json_type::string) return simdjson::INCORRECT_TYPE;
  std::string_view token = value.raw_json_token();  // "..." and the whitespace after it
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' ||
                            token.back() == '\t')) {
    token.remove_suffix(1);
  }
  if (token.size() >= 2 && token.find('\\') == std::string_view::npos) {
    *text = token.substr(1, token.size() - 2);
    return simdjson::SUCCESS;
  }
  return value.get_string().get(*text);
}

absl::Status ReadNodeNames(simdjson::ondemand::value names, ExtenderArgs* args) {
  json_type type;
  EXT_TRY(names.type().get(type));
  if (type == json_type::null) return absl::OkStatus();
  if (type != json_type::array) return absl::InvalidArgumentError("NodeNames: must be an array");
  simdjson::ondemand::array array;
  EXT_TRY(names.get_array().get(array));
  size_t count = 0;
  EXT_TRY(CountElements(array, &count));
  if (absl::Status s = CheckNodeCount("NodeNames", count); !s.ok()) return s;
  args->node_names.reserve(count);
  NameIndexSet<std::vector<std::string_view>> seen(count, {&args->node_names}, {&args->node_names});
  for (auto name : array) {
    simdjson::ondemand::value value;
    std::string_view text;
    if (name.get(value) != simdjson::SUCCESS || StringView(value, &text) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("NodeNames[", args->node_names.size(), "]: must be a string"));
    }
    if (text.data() < args->input_begin || text.data() >= args->input_end) {
      args->views_into_parser = true;
    }
    args->node_names.push_back(text);
    // As for Nodes: names key the answer's maps.
    if (!seen.insert(static_cast<uint32_t>(args->node_names.size() - 1)).second) {
      return absl::InvalidArgumentError(absl::StrCat("NodeNames[", args->node_names.size() - 1,
                                                     "]: duplicate node name '", std::string(text),
                                                     "'"));
    }
  }
  return absl::OkStatus();
}

// `readable_bytes`: how many bytes from body.data() may be read (body.size() and the padding
// after it, if any).
absl::Status ParseArgs(std::string_view body, size_t readable_bytes, ExtenderArgs* args) {
  ThreadParser& tp = LocalParser();
  const size_t needed = body.size() + simdjson::SIMDJSON_PADDING;
  const char* input = body.data();
  size_t input_capacity = readable_bytes;
  if (readable_bytes < needed) {  // no padding of its own: copy into the thread's buffer
    if (tp.capacity < needed) {
      tp.capacity = std::max(needed, std::min(tp.capacity * 2, kRetainedParserCapacityBytes));
      tp.buffer = std::make_unique<char[]>(tp.capacity);
    }
    std::memcpy(tp.buffer.get(), body.data(), body.size());
    std::memset(tp.buffer.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    input = tp.buffer.get();
    input_capacity = tp.capacity;
  }
  args->input_begin = input;
  args->input_end = input + body.size();
  simdjson::ondemand::document doc;
  EXT_TRY(tp.parser.iterate(input, body.size(), input_capacity).get(doc));
  json_type type;
  EXT_TRY(doc.type().get(type));
  if (type != json_type::object) {
    return absl::InvalidArgumentError("body: must be a JSON object (ExtenderArgs)");
  }
  simdjson::ondemand::object top;
  EXT_TRY(doc.get_object().get(top));
  // Each field once: a second one (in any case) is not something kube-scheduler sends, and
  // merging or picking one would be a guess.
  bool seen_pod = false;
  bool seen_nodes = false;
  bool seen_names = false;
  const auto once = [](bool* seen, std::string_view field) {
    if (*seen)
      return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": duplicate key"));
    *seen = true;
    return absl::OkStatus();
  };
  for (auto field : top) {
    std::string_view key;
    EXT_TRY(field.unescaped_key().get(key));
    simdjson::ondemand::value v;
    EXT_TRY(field.value().get(v));
    // Go's encoding/json matches keys case-insensitively; kube-scheduler sends PascalCase.
    if (key == "Pod" || key == "pod") {
      if (absl::Status s = once(&seen_pod, "Pod"); !s.ok()) return s;
      json_type pt;
      EXT_TRY(v.type().get(pt));
      if (pt == json_type::null) continue;
      if (absl::Status s = k8s::ReadPod(v, &args->pod); !s.ok()) return s;
      args->has_pod = true;
    } else if (key == "Nodes" || key == "nodes") {
      if (absl::Status s = once(&seen_nodes, "Nodes"); !s.ok()) return s;
      if (absl::Status s = ReadNodes(v, args); !s.ok()) return s;
    } else if (key == "NodeNames" || key == "nodenames" || key == "nodeNames") {
      if (absl::Status s = once(&seen_names, "NodeNames"); !s.ok()) return s;
      if (absl::Status s = ReadNodeNames(v, args); !s.ok()) return s;
    }
  }
  // At the end of the document current_location() has nowhere to point.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return absl::InvalidArgumentError("malformed JSON: trailing content after the object");
  }
  return absl::OkStatus();
}

#undef EXT_TRY

// --- Decision -> nodes -------------------------------------------------------------------------

enum class Verdict { kKeep, kFailed, kUnresolvable };

struct NodeVerdict {
  Verdict verdict = Verdict::kKeep;
  FilterReason reason = FilterReason::kMemory;
  std::string message;
  int best_option = -1;  // index into the decision's options (kKeep)
};

FilterReason ReasonOf(core::RejectClass cls) {
  switch (cls) {
    case core::RejectClass::kSlo:
      return FilterReason::kSlo;
    case core::RejectClass::kCapability:
      return FilterReason::kCapability;
    default:
      return FilterReason::kMemory;
  }
}

// The decision's options grouped by accelerator id, in the decision's (ranked) order.
class DecisionIndex {
 public:
  DecisionIndex(const core::Decision& decision, const core::ResolvedWorkload& workload,
                const core::Catalog& catalog)
      : decision_(decision), workload_(workload), catalog_(catalog) {
    for (size_t i = 0; i < decision.options.size(); ++i) {
      by_accelerator_[decision.options[i].accelerator->id].push_back(static_cast<int>(i));
    }
  }

  NodeVerdict Evaluate(const k8s::NodeInventory& node) const {
    NodeVerdict v;
    if (!node.has_gpu_labels) {
      return Unresolvable(FilterReason::kNoGpu,
                          "gpufit: no NVIDIA GPU on this node (no nvidia.com/gpu.product label)");
    }
    if (!node.unknown_product.empty()) {
      return Unresolvable(FilterReason::kUnknownProduct,
                          absl::StrCat("gpufit: unknown GPU product '", node.unknown_product,
                                       "' (not in gpufit's catalog)"));
    }
    int best = -1;
    int first_rejected = -1;
    std::string capacity_message;
    std::string capability_message;
    std::string missing_message;
    for (const k8s::NodeAccelerator& acc : node.accelerators) {
      auto it = by_accelerator_.find(acc.accelerator_id);
      if (it == by_accelerator_.end()) {
        if (missing_message.empty()) {
          missing_message = catalog_.FindAccelerator(acc.accelerator_id) == nullptr
                                ? absl::StrCat("gpufit: accelerator '", acc.accelerator_id,
                                               "' is not in gpufit's catalog")
                                : absl::StrCat("gpufit: capability: the workload does not allow ",
                                               acc.accelerator_id);
        }
        continue;
      }
      for (int index : it->second) {
        const core::Option& o = decision_.options[static_cast<size_t>(index)];
        if (!o.feasible) {
          if (first_rejected < 0) first_rejected = index;
          continue;
        }
        const int n = o.gpus_per_replica;
        if (acc.time_sliced && workload_.isolation == core::Isolation::kDedicated) {
          if (capability_message.empty()) {
            capability_message = absl::StrCat("gpufit: capability: ", acc.accelerator_id,
                                              " GPUs here are time-sliced; workload is dedicated");
          }
          continue;
        }
        if (n > 1 && !acc.nvlink) {
          if (capability_message.empty()) {
            capability_message = absl::StrCat("gpufit: capability: no NVLink between ",
                                              acc.accelerator_id, " GPUs for TP=", n);
          }
          continue;
        }
        if (n > acc.count) {
          if (capability_message.empty()) {
            capability_message =
                absl::StrCat("gpufit: capability: needs ", n, " ", acc.accelerator_id,
                             " per replica, node has ", acc.count);
          }
          continue;
        }
        if (acc.allocatable < n) {
          if (capacity_message.empty()) {
            capacity_message = absl::StrCat("gpufit: no free ", acc.resource, " for ",
                                            acc.accelerator_id, " x", n);
          }
          continue;
        }
        if (best < 0 || index < best) best = index;
        break;  // options are ranked: the first usable one is this accelerator's best
      }
    }
    if (best >= 0) {
      v.best_option = best;
      return v;
    }
    if (!capacity_message.empty()) {
      v.verdict = Verdict::kFailed;
      v.reason = FilterReason::kNoCapacity;
      v.message = std::move(capacity_message);
      return v;
    }
    if (!capability_message.empty()) {
      return Unresolvable(FilterReason::kCapability, std::move(capability_message));
    }
    if (first_rejected >= 0) {
      const core::Option& o = decision_.options[static_cast<size_t>(first_rejected)];
      return Unresolvable(
          ReasonOf(o.rejection.cls),
          absl::StrCat(
              "gpufit: ", render::RejectionText(o), " on ", o.accelerator->id,
              o.gpus_per_replica > 1 ? absl::StrCat(" x", o.gpus_per_replica) : std::string()));
    }
    if (missing_message.empty()) missing_message = "gpufit: no accelerator on this node";
    return Unresolvable(FilterReason::kCapability, std::move(missing_message));
  }

  double Score(int option) const {
    return core::ObjectiveScore(workload_, decision_.options[static_cast<size_t>(option)]);
  }

 private:
  static NodeVerdict Unresolvable(FilterReason reason, std::string message) {
    NodeVerdict v;
    v.verdict = Verdict::kUnresolvable;
    v.reason = reason;
    v.message = std::move(message);
    return v;
  }

  const core::Decision& decision_;
  const core::ResolvedWorkload& workload_;
  const core::Catalog& catalog_;
  absl::flat_hash_map<std::string, std::vector<int>> by_accelerator_;
};

// The nodes of a call, in the scheduler's order, as views into what was parsed (no copy).
class CallNodes {
 public:
  explicit CallNodes(const ExtenderArgs& args) : args_(args) {}
  size_t size() const { return args_.nodes_mode ? args_.items.size() : args_.node_names.size(); }
  std::string_view name(size_t i) const {
    return args_.nodes_mode ? std::string_view(args_.items[i].inventory.name) : args_.node_names[i];
  }
  std::string_view raw(size_t i) const { return args_.items[i].raw; }  // Nodes mode only

 private:
  const ExtenderArgs& args_;
};

constexpr char kNotInCache[] = "gpufit: node not in gpufit's node cache yet";

// One distinct node shape of a call (k8s::SameShape) and its verdict.
struct ShapeVerdict {
  NodeVerdict verdict;
  k8s::NodeInventory shape;  // a copy of the first node seen with this shape
  size_t nodes = 0;          // nodes of the call with this shape
  std::string failed_tail;   // ':' + the message as a JSON string: a Failed* entry after the name
};

struct ShapeHasher {
  size_t operator()(const k8s::NodeInventory* node) const { return node->shape_hash; }
};
struct ShapeEq {
  bool operator()(const k8s::NodeInventory* a, const k8s::NodeInventory* b) const {
    return k8s::SameShape(*a, *b);
  }
};

// Evaluates each distinct node shape of a call once: most nodes of a cluster share a shape
// (same accelerators, counts and free units), so a 5000-node call needs a handful of
// DecisionIndex::Evaluate calls and messages instead of 5000.
class VerdictCache {
 public:
  explicit VerdictCache(const DecisionIndex& index) : index_(index) {}

  // The shape of `node` (nullptr: not in the node cache). `node` need only live during the
  // call: the cache keeps its own copy of each shape.
  uint32_t For(const k8s::NodeInventory* node) {
    uint32_t id;
    if (node == nullptr) {
      if (not_in_cache_ < 0) {
        NodeVerdict v;
        v.verdict = Verdict::kFailed;
        v.reason = FilterReason::kNotInCache;
        v.message = kNotInCache;
        not_in_cache_ = static_cast<int>(Add(std::move(v), k8s::NodeInventory{}));
      }
      id = static_cast<uint32_t>(not_in_cache_);
    } else if (auto it = by_shape_.find(node); it != by_shape_.end()) {
      id = it->second;
    } else {
      id = Add(index_.Evaluate(*node), *node);
      by_shape_.emplace(&shapes_[id].shape, id);
    }
    ++shapes_[id].nodes;
    return id;
  }

  const ShapeVerdict& operator[](uint32_t id) const { return shapes_[id]; }
  size_t size() const { return shapes_.size(); }

 private:
  uint32_t Add(NodeVerdict verdict, const k8s::NodeInventory& node) {
    ShapeVerdict& s = shapes_.emplace_back();
    s.verdict = std::move(verdict);
    s.shape = node;
    if (s.verdict.verdict != Verdict::kKeep) {
      s.failed_tail.push_back(':');
      AppendJsonString(&s.failed_tail, s.verdict.message);
    }
    return static_cast<uint32_t>(shapes_.size() - 1);
  }

  const DecisionIndex& index_;
  std::deque<ShapeVerdict> shapes_;  // stable addresses: by_shape_ points into it
  absl::flat_hash_map<const k8s::NodeInventory*, uint32_t, ShapeHasher, ShapeEq> by_shape_;
  int not_in_cache_ = -1;
};

// Appends ,"Score":N} (N in 0..10).
void AppendScoreTail(std::string* out, int score) {
  out->append(",\"Score\":");
  if (score >= 10) {
    out->append("10");
  } else {
    out->push_back(static_cast<char>('0' + std::max(score, 0)));
  }
  out->push_back('}');
}

std::string FilterErrorBody(std::string_view error) {
  std::string body =
      "{\"Nodes\":null,\"NodeNames\":null,\"FailedNodes\":null,"
      "\"FailedAndUnresolvableNodes\":null,\"Error\":";
  AppendJsonString(&body, error);
  body.push_back('}');
  return body;
}

}  // namespace

Extender::Extender(const ConfigStore* store, const k8s::NodeCache* cache,
                   metrics::ExtenderProbe* probe, ExtenderOptions options)
    : store_(store), cache_(cache), probe_(probe), options_(options) {}

HttpResponse Extender::Filter(std::string_view body, size_t readable_bytes) const {
  return Handle(ExtenderVerb::kFilter, body, readable_bytes);
}

HttpResponse Extender::Prioritize(std::string_view body, size_t readable_bytes) const {
  return Handle(ExtenderVerb::kPrioritize, body, readable_bytes);
}

void Extender::Register(const std::string& prefix, HttpServer* http) const {
  std::string p = prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty() && p.front() != '/') p.insert(p.begin(), '/');
  // The server's bodies carry kHttpBodyPaddingBytes past their end: parsed in place.
  http->Post(p + "/filter",
             [this](const HttpRequest& r) { return Filter(r.body, r.body.capacity()); });
  http->Post(p + "/prioritize",
             [this](const HttpRequest& r) { return Prioritize(r.body, r.body.capacity()); });
}

HttpResponse Extender::Handle(ExtenderVerb verb, std::string_view body,
                              size_t readable_bytes) const {
  const auto started = std::chrono::steady_clock::now();
  const bool filter = verb == ExtenderVerb::kFilter;
  const auto finish = [&](ExtenderOutcome outcome, HttpResponse response) {
    if (probe_ != nullptr) {
      probe_->RecordRequest(
          verb, outcome,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    return response;
  };
  if (body.size() > options_.max_body_bytes) {
    return finish(
        ExtenderOutcome::kBadRequest,
        BadRequest(absl::StrCat("body: larger than ", options_.max_body_bytes, " bytes")));
  }
  const ParserTrim trim;  // after everything below, which points into the parser
  ExtenderArgs args;
  if (absl::Status s = ParseArgs(body, readable_bytes, &args); !s.ok()) {
    return finish(ExtenderOutcome::kBadRequest, BadRequest(std::string(s.message())));
  }
  // The parse is done. Unless names point into its string buffer, a large parser goes now,
  // before the answer is built: the two would be the peak together (the body, or the copy
  // the views point into, stays).
  if (!args.views_into_parser) TrimThreadParser(/*keep_copy=*/true);
  const CallNodes nodes(args);

  std::string error;
  ExtenderOutcome outcome = ExtenderOutcome::kOk;
  std::shared_ptr<const config::ServiceConfig> config;
  std::optional<core::ResolvedWorkload> resolved;
  core::Decision decision;
  std::unique_ptr<DecisionIndex> index;
  std::optional<VerdictCache> verdicts;  // set when the call decides
  std::vector<uint32_t> shape_of;        // node i -> its shape in `verdicts`
  if (!args.has_pod || !args.pod.is_gpufit_workload()) {
    outcome = ExtenderOutcome::kPassThrough;
  } else if (!args.nodes_mode && cache_ == nullptr && filter) {
    outcome = ExtenderOutcome::kPodError;
    error =
        "gpufit: NodeNames mode needs gpufitd's node cache, which is off (no Kubernetes API "
        "access); set nodeCacheCapable: false or give gpufitd API access";
  } else {
    config = store_->Snapshot();
    absl::StatusOr<core::Workload> workload = k8s::WorkloadFromPod(args.pod, *config);
    absl::StatusOr<core::ResolvedWorkload> r =
        workload.ok() ? core::ResolveWorkload(*workload, *config->catalog, "workload")
                      : absl::StatusOr<core::ResolvedWorkload>(workload.status());
    if (!r.ok()) {
      outcome = ExtenderOutcome::kPodError;
      error = absl::StrCat("gpufit: pod ", args.pod.namespace_name, "/", args.pod.name, ": ",
                           r.status().message());
    } else {
      resolved = std::move(*r);
      decision = core::Place(*resolved, *config->catalog);  // the one placement of this call
      index = std::make_unique<DecisionIndex>(decision, *resolved, *config->catalog);
      verdicts.emplace(*index);
      shape_of.resize(nodes.size());
      if (args.nodes_mode) {
        for (size_t i = 0; i < args.items.size(); ++i) {
          shape_of[i] = verdicts->For(&args.items[i].inventory);
        }
      } else if (cache_ != nullptr) {
        // Under the cache's read lock, without reference counting: For() copies each new
        // shape, so nothing points into the cache afterwards.
        cache_->Visit(args.node_names, [&](size_t i, const k8s::NodeInventory* node) {
          shape_of[i] = verdicts->For(node);
        });
      } else {
        for (uint32_t& s : shape_of) s = verdicts->For(nullptr);
      }
    }
  }

  size_t name_bytes = 0;
  for (size_t i = 0; i < nodes.size(); ++i) name_bytes += nodes.name(i).size();

  if (!filter) {
    // HostPriorityList: a bare array, scores 0..10, computed once per shape.
    std::vector<int> shape_score(verdicts.has_value() ? verdicts->size() : 0, 0);
    if (verdicts.has_value()) {
      std::vector<double> values(verdicts->size(), 0);
      double best = 0;
      bool any = false;
      for (uint32_t s = 0; s < verdicts->size(); ++s) {
        const NodeVerdict& v = (*verdicts)[s].verdict;
        if (v.verdict != Verdict::kKeep) continue;
        values[s] = index->Score(v.best_option);
        if (!any || values[s] < best) best = values[s];
        any = true;
      }
      for (uint32_t s = 0; s < verdicts->size(); ++s) {
        if ((*verdicts)[s].verdict.verdict != Verdict::kKeep) continue;
        const double v = values[s];
        double ratio = 1;
        if (best > 0 && v > 0)
          ratio = best / v;  // cost, latency: smaller wins
        else if (best < 0 && v < 0)
          ratio = v / best;  // throughput: -tokens/s
        else if (v != best)
          ratio = 0;
        // A usable node always beats an unusable one (0).
        shape_score[s] = std::clamp(static_cast<int>(std::lround(10 * ratio)), 1, 10);
      }
    }
    std::string out;
    out.reserve(name_bytes + nodes.size() * 24 + 2);
    out.push_back('[');
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append("{\"Host\":");
      AppendJsonString(&out, nodes.name(i));
      AppendScoreTail(&out, verdicts.has_value() ? shape_score[shape_of[i]] : 0);
    }
    out.push_back(']');
    return finish(outcome, HttpResponse{200, kJson, std::move(out)});
  }

  if (!error.empty()) return finish(outcome, HttpResponse{200, kJson, FilterErrorBody(error)});

  // ExtenderFilterResult. Without verdicts (pass-through) every node is kept.
  const auto kept = [&](size_t i) {
    return !verdicts.has_value() || (*verdicts)[shape_of[i]].verdict.verdict == Verdict::kKeep;
  };
  // Sized up front: an answer that grows by doubling holds its old and new copies at once,
  // and for small nodes the answer is larger than the body.
  size_t size = 256;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (kept(i)) {
      size += args.nodes_mode ? nodes.raw(i).size() + 1 : nodes.name(i).size() + 3;
    } else {
      size += nodes.name(i).size() + 3 + (*verdicts)[shape_of[i]].failed_tail.size();
    }
  }
  std::string out;
  out.reserve(size);
  if (args.nodes_mode) {
    out.append("{\"Nodes\":{\"metadata\":{},\"items\":[");
    bool first = true;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!kept(i)) continue;
      if (!first) out.push_back(',');
      first = false;
      out.append(nodes.raw(i));
    }
    out.append("]},\"NodeNames\":null,");
  } else {
    out.append("{\"Nodes\":null,\"NodeNames\":[");
    bool first = true;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!kept(i)) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(&out, nodes.name(i));
    }
    out.append("],");
  }
  for (const Verdict kind : {Verdict::kFailed, Verdict::kUnresolvable}) {
    out.append(kind == Verdict::kFailed ? "\"FailedNodes\":{" : "\"FailedAndUnresolvableNodes\":{");
    bool first = true;
    for (size_t i = 0; verdicts.has_value() && i < nodes.size(); ++i) {
      const ShapeVerdict& s = (*verdicts)[shape_of[i]];
      if (s.verdict.verdict != kind) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(&out, nodes.name(i));
      out.append(s.failed_tail);  // the message, escaped once per shape
    }
    out.append("},");
  }
  out.append("\"Error\":\"\"}");
  if (probe_ != nullptr && verdicts.has_value()) {
    for (uint32_t s = 0; s < verdicts->size(); ++s) {  // one update per shape, not per node
      const ShapeVerdict& v = (*verdicts)[s];
      if (v.verdict.verdict != Verdict::kKeep) {
        probe_->RecordFiltered(v.verdict.reason, static_cast<double>(v.nodes));
      }
    }
  }
  return finish(outcome, HttpResponse{200, kJson, std::move(out)});
}

}  // namespace gpufit::server

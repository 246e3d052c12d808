#include "k8s/node_cache.h"

#include <chrono>
#include <cstdlib>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "config/yaml_reader.h"
#include "httplib.h"
#include "k8s/json_readers.h"

namespace gpufit::k8s {
namespace {

using simdjson::ondemand::json_type;
using simdjson::ondemand::object;

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";
// client-go re-reads the token file at most once a minute (transport/token_source.go).
constexpr int64_t kTokenRefreshMs = 60 * 1000;
// A service-account token (a JWT) is about 1 KiB; anything past 64 KiB is not a token.
constexpr size_t kMaxTokenBytes = 64 * 1024;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::Status JsonError(std::string_view what, simdjson::error_code err) {
  return absl::DataLossError(
      absl::StrCat(std::string(what), ": malformed JSON: ", simdjson::error_message(err)));
}

// `object.metadata.resourceVersion` and the Status fields of a watch event's object.
struct EventObject {
  NodeFacts facts;
  bool facts_ok = false;
  int64_t code = 0;
  std::string reason;
  std::string message;
};

}  // namespace

// --- NodeCache ---------------------------------------------------------------------------------

void NodeCache::Replace(std::vector<NodeInventory> nodes) {
  absl::flat_hash_map<std::string, NodePtr> next;
  next.reserve(nodes.size());
  for (NodeInventory& n : nodes) {
    std::string name = n.name;
    next[std::move(name)] = std::make_shared<const NodeInventory>(std::move(n));
  }
  size_t size = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    nodes_.swap(next);
    size = nodes_.size();
  }
  Notify(size);
}

void NodeCache::Upsert(NodeInventory node) {
  std::string name = node.name;
  auto ptr = std::make_shared<const NodeInventory>(std::move(node));
  size_t size = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    nodes_[std::move(name)] = std::move(ptr);
    size = nodes_.size();
  }
  Notify(size);
}

void NodeCache::Remove(std::string_view name) {
  size_t size = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    nodes_.erase(absl::string_view(name.data(), name.size()));
    size = nodes_.size();
  }
  Notify(size);
}

NodeCache::NodePtr NodeCache::Find(std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = nodes_.find(absl::string_view(name.data(), name.size()));
  return it == nodes_.end() ? nullptr : it->second;
}

void NodeCache::FindAll(const std::vector<std::string_view>& names,
                        std::vector<NodePtr>* out) const {
  out->clear();
  out->reserve(names.size());
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (std::string_view name : names) {
    auto it = nodes_.find(absl::string_view(name.data(), name.size()));
    out->push_back(it == nodes_.end() ? nullptr : it->second);
  }
}

void NodeCache::Visit(const std::vector<std::string_view>& names,
                      absl::FunctionRef<void(size_t, const NodeInventory*)> visit) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = nodes_.find(absl::string_view(names[i].data(), names[i].size()));
    visit(i, it == nodes_.end() ? nullptr : it->second.get());
  }
}

size_t NodeCache::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return nodes_.size();
}

void NodeCache::SetSizeListener(std::function<void(size_t)> listener) {
  size_listener_ = std::move(listener);
}

void NodeCache::Notify(size_t size) const {
  if (size_listener_) size_listener_(size);
}

// --- In-cluster config ---------------------------------------------------------------------------

absl::StatusOr<KubeApiOptions> InClusterOptions() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return absl::NotFoundError("not running in a Kubernetes cluster");
  }
  KubeApiOptions o;
  const std::string h = host;
  // net.JoinHostPort: an IPv6 literal goes in brackets.
  o.url = absl::StrCat("https://", h.find(':') != std::string::npos ? "[" + h + "]" : h, ":", port);
  o.token_file = absl::StrCat(kServiceAccountDir, "/token");
  o.ca_file = absl::StrCat(kServiceAccountDir, "/ca.crt");
  return o;
}

// --- NodeWatcher ---------------------------------------------------------------------------------

NodeWatcher::NodeWatcher(KubeApiOptions options, NodeCache* cache, NodeWatcherEvents events)
    : options_(std::move(options)), cache_(cache), events_(std::move(events)) {}

NodeWatcher::~NodeWatcher() { Stop(); }

void NodeWatcher::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void NodeWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->stop();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string NodeWatcher::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resource_version_;
}

bool NodeWatcher::SleepFor(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
  return !stopping_;
}

std::string NodeWatcher::Token() {
  if (options_.token_file.empty()) return "";
  const int64_t now = NowMs();
  if (token_read_ms_ == 0 || now - token_read_ms_ >= kTokenRefreshMs) {
    // As every file gpufitd reads: a regular file (a FIFO would block the watch thread), and
    // at most kMaxTokenBytes of it.
    absl::StatusOr<std::string> text =
        config::internal::ReadFileToString(options_.token_file, kMaxTokenBytes);
    if (text.ok()) {
      token_ = std::string(absl::StripAsciiWhitespace(*text));
      token_read_ms_ = now;
    }
  }
  return token_;
}

std::unique_ptr<httplib::Client> NodeWatcher::NewClient(int read_timeout_seconds) {
  auto client = std::make_unique<httplib::Client>(options_.url);
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(read_timeout_seconds, 0);
  client->set_keep_alive(false);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (!options_.ca_file.empty()) client->set_ca_cert_path(options_.ca_file.c_str());
  client->enable_server_certificate_verification(true);
#endif
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (std::string token = Token(); !token.empty()) {
    headers.emplace("Authorization", absl::StrCat("Bearer ", token));
  }
  client->set_default_headers(std::move(headers));
  return client;
}

absl::Status NodeWatcher::ListOnce() {
  // Rule 6: a 410 while paging restarts the list from page 1 (a few times, then give up and
  // let Run() back off).
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<NodeInventory> nodes;
    std::string cont;
    std::string list_rv;
    bool expired = false;
    do {
      std::string path = absl::StrCat("/api/v1/nodes?limit=", options_.page_limit);
      if (!cont.empty()) absl::StrAppend(&path, "&continue=", UrlEncode(cont));
      std::unique_ptr<httplib::Client> client = NewClient(60);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return absl::CancelledError("stopping");
        active_ = client.get();
      }
      httplib::Result res = client->Get(path);
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_ = nullptr;
      }
      if (!res) {
        return absl::UnavailableError(
            absl::StrCat("list nodes: ", httplib::to_string(res.error())));
      }
      if (res->status == 401) token_read_ms_ = 0;  // re-read a rotated token next time
      if (res->status == 410) {
        expired = true;
        break;
      }
      if (res->status != 200) {
        return absl::UnavailableError(absl::StrCat("list nodes: HTTP ", res->status));
      }
      simdjson::padded_string body(res->body);
      simdjson::ondemand::parser parser;
      simdjson::ondemand::document doc;
      if (auto err = parser.iterate(body).get(doc)) return JsonError("list nodes", err);
      object top;
      if (auto err = doc.get_object().get(top)) return JsonError("list nodes", err);
      cont.clear();
      for (auto field : top) {
        simdjson::ondemand::raw_json_string key;
        if (auto err = field.key().get(key)) return JsonError("list nodes", err);
        simdjson::ondemand::value v;
        if (auto err = field.value().get(v)) return JsonError("list nodes", err);
        if (key == "metadata") {
          object meta;
          if (auto err = v.get_object().get(meta)) return JsonError("list nodes", err);
          for (auto m : meta) {
            simdjson::ondemand::raw_json_string mkey;
            if (auto err = m.key().get(mkey)) return JsonError("list nodes", err);
            std::string_view text;
            if (mkey == "resourceVersion" && m.value().get_string().get(text) == 0) {
              list_rv = text;
            } else if (mkey == "continue" && m.value().get_string().get(text) == 0) {
              cont = text;
            }
          }
        } else if (key == "items") {
          json_type type;
          if (auto err = v.type().get(type)) return JsonError("list nodes", err);
          if (type == json_type::null) continue;
          simdjson::ondemand::array items;
          if (auto err = v.get_array().get(items)) return JsonError("list nodes", err);
          for (auto item : items) {
            object node;
            if (auto err = item.get_object().get(node)) return JsonError("list nodes", err);
            NodeFacts facts;
            if (absl::Status s = ReadNodeFacts(node, &facts); !s.ok()) {
              if (events_.error) events_.error(absl::StrCat("list nodes: ", s.message()));
              continue;
            }
            nodes.push_back(BuildInventory(facts));
          }
        }
      }
    } while (!cont.empty());
    if (expired) continue;
    cache_->Replace(std::move(nodes));
    {
      std::lock_guard<std::mutex> lock(mu_);
      resource_version_ = list_rv;
    }
    synced_ = true;
    if (events_.relisted) events_.relisted();
    return absl::OkStatus();
  }
  return absl::AbortedError("list nodes: continue token expired (HTTP 410) three times");
}

absl::Status NodeWatcher::HandleEventLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return absl::OkStatus();
  simdjson::padded_string text(line);
  simdjson::ondemand::parser parser;
  // Pass 1: the event type (keys may come in any order, so read it before the object).
  std::string type;
  {
    simdjson::ondemand::document doc;
    object top;
    if (auto err = parser.iterate(text).get(doc)) return JsonError("watch event", err);
    if (auto err = doc.get_object().get(top)) return JsonError("watch event", err);
    for (auto field : top) {
      simdjson::ondemand::raw_json_string key;
      if (auto err = field.key().get(key)) return JsonError("watch event", err);
      std::string_view t;
      if (key == "type" && field.value().get_string().get(t) == 0) type = t;
    }
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED" && type != "BOOKMARK" &&
      type != "ERROR") {
    return absl::OkStatus();  // rule 8: ignore unknown event types
  }
  // Pass 2: the object.
  EventObject obj;
  simdjson::ondemand::document doc;
  object top;
  if (auto err = parser.iterate(text).get(doc)) return JsonError("watch event", err);
  if (auto err = doc.get_object().get(top)) return JsonError("watch event", err);
  for (auto field : top) {
    simdjson::ondemand::raw_json_string key;
    if (auto err = field.key().get(key)) return JsonError("watch event", err);
    if (!(key == "object")) continue;
    object o;
    if (auto err = field.value().get_object().get(o)) return JsonError("watch event", err);
    if (type == "ERROR") {
      for (auto f : o) {
        simdjson::ondemand::raw_json_string k;
        if (auto err = f.key().get(k)) return JsonError("watch event", err);
        std::string_view s;
        int64_t n = 0;
        if (k == "code" && f.value().get_int64().get(n) == 0) obj.code = n;
        if (k == "reason" && f.value().get_string().get(s) == 0) obj.reason = s;
        if (k == "message" && f.value().get_string().get(s) == 0) obj.message = s;
      }
    } else {
      obj.facts_ok = ReadNodeFacts(o, &obj.facts).ok();
    }
  }
  if (type == "ERROR") {
    if (obj.code == 410) {
      return absl::AbortedError(absl::StrCat("watch nodes: ", obj.reason, " (410): ", obj.message));
    }
    return absl::UnavailableError(
        absl::StrCat("watch nodes: ERROR event ", obj.code, " ", obj.reason, ": ", obj.message));
  }
  if (type == "ADDED" || type == "MODIFIED") {
    if (!obj.facts_ok) return JsonError("watch event object", simdjson::INCORRECT_TYPE);
    cache_->Upsert(BuildInventory(obj.facts));
  } else if (type == "DELETED") {
    if (!obj.facts_ok) return JsonError("watch event object", simdjson::INCORRECT_TYPE);
    cache_->Remove(obj.facts.name);
  }
  // Every event moves the resourceVersion, BOOKMARK included (and only that for BOOKMARK).
  if (!obj.facts.resource_version.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    resource_version_ = obj.facts.resource_version;
  }
  return absl::OkStatus();
}

absl::Status NodeWatcher::WatchOnce(int timeout_seconds) {
  const std::string path =
      absl::StrCat("/api/v1/nodes?watch=1&resourceVersion=", UrlEncode(resource_version()),
                   "&allowWatchBookmarks=true&timeoutSeconds=", timeout_seconds);
  std::unique_ptr<httplib::Client> client = NewClient(timeout_seconds + 30);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("stopping");
    active_ = client.get();
  }
  int status = 0;
  std::string buffer;
  absl::Status event_status;
  httplib::Result res = client->Get(
      path,
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (status != 200) return true;  // the error body; only the status matters
        buffer.append(data, len);
        size_t start = 0;
        for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
          event_status = HandleEventLine(std::string_view(buffer).substr(start, nl - start));
          if (!event_status.ok()) return false;
        }
        buffer.erase(0, start);
        return true;
      });
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = nullptr;
  }
  if (!event_status.ok()) return event_status;
  if (status == 401) token_read_ms_ = 0;
  if (status == 410) return absl::AbortedError("watch nodes: HTTP 410 Gone");
  if (status != 0 && status != 200) {
    return absl::UnavailableError(absl::StrCat("watch nodes: HTTP ", status));
  }
  if (!res && status == 0) {
    return absl::UnavailableError(absl::StrCat("watch nodes: ", httplib::to_string(res.error())));
  }
  // A dropped connection mid-event leaves a partial line: discard it; the re-watch from the
  // last complete event's resourceVersion delivers it again.
  return absl::OkStatus();
}

void NodeWatcher::Run() {
  std::mt19937 rng(std::random_device{}());
  int backoff_ms = options_.initial_backoff_ms;
  const auto back_off = [&](const absl::Status& s) {
    if (events_.error) events_.error(std::string(s.message()));
    // Jitter 1.0: each wait lands in [d, 2d).
    const int wait = backoff_ms + static_cast<int>(rng() % static_cast<unsigned>(backoff_ms + 1));
    backoff_ms = std::min(backoff_ms * 2, options_.max_backoff_ms);
    return SleepFor(wait);
  };
  bool need_list = true;
  while (!stopping_) {
    if (need_list) {
      absl::Status s = ListOnce();
      if (stopping_) break;
      if (!s.ok()) {
        if (!back_off(s)) break;
        continue;
      }
      need_list = false;
      backoff_ms = options_.initial_backoff_ms;
    }
    const int span =
        std::max(1, options_.watch_timeout_max_seconds - options_.watch_timeout_min_seconds);
    const int timeout =
        options_.watch_timeout_min_seconds + static_cast<int>(rng() % static_cast<unsigned>(span));
    const std::string rv_before = resource_version();
    const int64_t started = NowMs();
    absl::Status s = WatchOnce(timeout);
    if (stopping_) break;
    if (events_.watch_restarted) events_.watch_restarted();
    if (absl::IsAborted(s)) {
      if (events_.error) events_.error(std::string(s.message()));
      need_list = true;
      continue;
    }
    if (!s.ok()) {
      if (!back_off(s)) break;
      continue;
    }
    // client-go's "very short watch": under 1 s with no events is a failure.
    if (NowMs() - started < 1000 && resource_version() == rv_before) {
      if (!back_off(absl::UnavailableError("watch nodes: ended at once with no events"))) break;
    } else {
      backoff_ms = options_.initial_backoff_ms;
    }
  }
}

}  // namespace gpufit::k8s

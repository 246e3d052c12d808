// gpufit's view of the cluster's nodes for the scheduler extender's NodeNames mode
// (nodeCacheCapable: true), where kube-scheduler sends names only.
//
// NodeCache holds one NodeInventory per node name. NodeWatcher keeps it current from the
// Kubernetes API with the reflector protocol (tests/testdata/fixtures/kube-api/README.md): list
// /api/v1/nodes in pages (limit=500, continue), replace the cache, then watch from the list's
// resourceVersion with bookmarks; a closed stream re-watches from the last resourceVersion
// seen (BOOKMARKs included); a 410 (ERROR event with code 410, or HTTP 410) relists; other
// errors back off exponentially (800 ms doubling to 30 s, with jitter). BOOKMARK objects are
// never stored. The bearer token is re-read at most once a minute and after any 401.
//
// Thread-safety: NodeCache is safe for concurrent readers and one writer. NodeWatcher runs
// one background thread between Start() and Stop().
#ifndef GPUFIT_K8S_NODE_CACHE_H_
#define GPUFIT_K8S_NODE_CACHE_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "k8s/node_inventory.h"

namespace httplib {
class Client;
}  // namespace httplib

namespace gpufit::k8s {

class NodeCache {
 public:
  using NodePtr = std::shared_ptr<const NodeInventory>;

  // Replaces every entry (after a full list).
  void Replace(std::vector<NodeInventory> nodes);
  void Upsert(NodeInventory node);
  void Remove(std::string_view name);

  // nullptr when unknown.
  NodePtr Find(std::string_view name) const;
  // Looks up many names under one lock; out[i] is nullptr for an unknown names[i].
  void FindAll(const std::vector<std::string_view>& names, std::vector<NodePtr>* out) const;
  // Calls visit(i, node) for every names[i] under one shared lock, without taking a
  // reference (node is nullptr for an unknown name and only valid during the call). For hot
  // paths: no reference-count traffic. `visit` must be short and must not call back into the
  // cache.
  void Visit(const std::vector<std::string_view>& names,
             absl::FunctionRef<void(size_t, const NodeInventory*)> visit) const;
  size_t size() const;
  // Called with the new size after every change (for the node-cache gauge).
  void SetSizeListener(std::function<void(size_t)> listener);

 private:
  void Notify(size_t size) const;
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<std::string, NodePtr> nodes_;  // guarded by mu_
  std::function<void(size_t)> size_listener_;        // set before use
};

struct KubeApiOptions {
  std::string url;         // "https://10.0.0.1:443" or "http://127.0.0.1:PORT" (tests)
  std::string token_file;  // empty = no Authorization header
  std::string ca_file;     // PEM; https only
  int page_limit = 500;
  // Server-side watch duration; client-go picks [300, 600) s at random per watch.
  int watch_timeout_min_seconds = 300;
  int watch_timeout_max_seconds = 600;
  int initial_backoff_ms = 800;  // client-go reflector: 800 ms, x2, capped at 30 s
  int max_backoff_ms = 30000;
};

// The in-cluster API server (KUBERNETES_SERVICE_HOST/PORT and the service-account token and
// CA files), or NOT_FOUND when not running in a cluster.
absl::StatusOr<KubeApiOptions> InClusterOptions();

// Events the watcher reports (logging and metrics); called on the watcher's thread.
struct NodeWatcherEvents {
  std::function<void()> watch_restarted;  // a watch ended or failed and is being re-opened
  std::function<void()> relisted;         // a full list replaced the cache
  std::function<void(const std::string&)> error;
};

class NodeWatcher {
 public:
  // `cache` is not owned and must outlive the watcher.
  NodeWatcher(KubeApiOptions options, NodeCache* cache, NodeWatcherEvents events = {});
  ~NodeWatcher();  // Stop()s
  NodeWatcher(const NodeWatcher&) = delete;
  NodeWatcher& operator=(const NodeWatcher&) = delete;

  void Start();
  void Stop();  // idempotent; aborts a watch in progress

  // True once the first full list has been applied.
  bool synced() const { return synced_.load(); }
  // The resourceVersion the next watch would resume from.
  std::string resource_version() const;

  // One list + replace (exposed for tests). UNAVAILABLE/other codes on transport or HTTP
  // errors; ABORTED when the list's continue token expired (HTTP 410).
  absl::Status ListOnce();
  // One watch from resource_version() until the stream ends. Returns OK on a normal end,
  // ABORTED on 410 (relist needed), other codes on errors.
  absl::Status WatchOnce(int timeout_seconds);
  // Applies one line of the watch stream (exposed for tests and fuzz/fuzz_k8s.cc).
  absl::Status HandleEventLine(std::string_view line);

 private:
  void Run();
  bool SleepFor(int ms);  // false when stopping
  std::string Token();
  std::unique_ptr<httplib::Client> NewClient(int read_timeout_seconds);

  const KubeApiOptions options_;
  NodeCache* cache_;
  NodeWatcherEvents events_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string resource_version_;       // guarded by mu_
  httplib::Client* active_ = nullptr;  // guarded by mu_; the client of the request in flight
  std::string token_;                  // watcher thread only
  int64_t token_read_ms_ = 0;          // watcher thread only
  std::thread thread_;
};

}  // namespace gpufit::k8s

#endif  // GPUFIT_K8S_NODE_CACHE_H_

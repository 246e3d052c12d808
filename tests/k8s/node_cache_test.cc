// NodeWatcher against a local HTTP server that plays tests/testdata/fixtures/kube-api: paginated
// list, the recorded watch stream (ADDED, MODIFIED, BOOKMARK, DELETED), an in-band 410 ERROR
// event, an HTTP 410 on the watch, an HTTP 410 on a continue token, and a connection dropped
// in the middle of an event.
#include "k8s/node_cache.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "httplib.h"

namespace gpufit::k8s {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(GPUFIT_SHARED_DIR) + "/fixtures/kube-api/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr char kH100Event[] =
    R"({"type":"ADDED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"gpu-h100-0","resourceVersion":"48300000","labels":{"nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3","nvidia.com/gpu.count":"8"}},"status":{"allocatable":{"nvidia.com/gpu":"8"}}}})"
    "\n";

// Plays the fixtures in a fixed script; records every request.
class FakeApiServer {
 public:
  FakeApiServer() {
    server_.Get("/api/v1/nodes", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock<std::mutex> lock(mu_);
      requests_.push_back(req.path + "?" + Query(req));
      auth_ = req.get_header_value("Authorization");
      if (!req.has_param("watch")) {
        if (!req.has_param("continue")) {
          res.set_content(Fixture("nodes-list-page1.json"), "application/json");
        } else if (!continue_expired_once_) {
          continue_expired_once_ = true;
          res.status = 410;
          res.set_content(Fixture("nodes-list-continue-expired-http410.json"), "application/json");
        } else {
          res.set_content(Fixture("nodes-list-page2.json"), "application/json");
        }
        ++lists_;
        return;
      }
      watch_rvs_.push_back(req.get_param_value("resourceVersion"));
      const int n = watches_++;
      lock.unlock();
      if (n == 0) {
        Stream(res, Fixture("watch-stream.jsonl"), /*drop_after=*/std::string::npos);
      } else if (n == 1) {
        Stream(res, Fixture("watch-expired.jsonl"), std::string::npos);
      } else if (n == 2) {
        res.status = 410;
        res.set_content(Fixture("watch-expired-http410.json"), "application/json");
      } else if (n == 3) {
        Stream(res, kH100Event, 120);  // the connection drops in the middle of the event
      } else if (n == 4) {
        Stream(res, kH100Event, std::string::npos);
      } else {
        res.set_chunked_content_provider("application/json", [this](size_t, httplib::DataSink&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          return !done_.load();
        });
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeApiServer() {
    done_ = true;
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  int watches() {
    std::lock_guard<std::mutex> lock(mu_);
    return watches_;
  }
  int lists() {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }
  std::vector<std::string> watch_rvs() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_rvs_;
  }
  std::string auth() {
    std::lock_guard<std::mutex> lock(mu_);
    return auth_;
  }
  void Done() { done_ = true; }

 private:
  static std::string Query(const httplib::Request& req) {
    std::string q;
    for (const auto& [k, v] : req.params) q += k + "=" + v + "&";
    return q;
  }
  // Sends `body` in small chunks that do not line up with events; stops (dropping the
  // connection) after `drop_after` bytes.
  static void Stream(httplib::Response& res, std::string body, size_t drop_after) {
    res.set_chunked_content_provider("application/json",
                                     [body, drop_after](size_t offset, httplib::DataSink& sink) {
                                       const size_t end = std::min(body.size(), drop_after);
                                       if (offset >= end) {
                                         if (drop_after != std::string::npos)
                                           return false;  // abort: connection closed
                                         sink.done();
                                         return true;
                                       }
                                       const size_t n = std::min<size_t>(777, end - offset);
                                       sink.write(body.data() + offset, n);
                                       return true;
                                     });
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::vector<std::string> watch_rvs_;
  std::string auth_;
  int lists_ = 0;
  int watches_ = 0;
  bool continue_expired_once_ = false;
  std::atomic<bool> done_{false};
};

template <typename Pred>
bool WaitFor(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

KubeApiOptions TestOptions(int port) {
  KubeApiOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port);
  o.initial_backoff_ms = 5;
  o.max_backoff_ms = 50;
  o.watch_timeout_min_seconds = 5;
  o.watch_timeout_max_seconds = 6;
  return o;
}

TEST(NodeCacheTest, ListThenWatchFollowsTheReflectorRules) {
  FakeApiServer api;
  const std::string token_path = std::string(GPUFIT_BINARY_DIR) + "/node_cache_test_token";
  { std::ofstream(token_path) << "test-token\n"; }
  NodeCache cache;
  KubeApiOptions options = TestOptions(api.port());
  options.token_file = token_path;
  int restarts = 0;
  std::mutex mu;
  NodeWatcherEvents events;
  events.watch_restarted = [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++restarts;
  };
  NodeWatcher watcher(options, &cache, events);

  // The first list meets an expired continue token (HTTP 410) on page 2 and restarts.
  ASSERT_TRUE(watcher.ListOnce().ok());
  EXPECT_EQ(api.lists(), 4);  // page 1, page 2 (410), page 1, page 2
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(watcher.resource_version(), "48213904");
  EXPECT_EQ(api.auth(), "Bearer test-token");
  ASSERT_NE(cache.Find("gpu-a100-mig-0"), nullptr);
  EXPECT_EQ(cache.Find("gpu-a100-mig-0")->accelerators.size(), 4u);

  // The recorded stream: ADDED gpu-l4-1, MODIFIED gpu-a100-mig-0, BOOKMARK, DELETED gpu-l4-0.
  ASSERT_TRUE(watcher.WatchOnce(5).ok());
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.Find("gpu-l4-1"), nullptr);
  EXPECT_FALSE(cache.Find("gpu-l4-1")->has_gpu_labels);
  EXPECT_EQ(cache.Find("gpu-l4-0"), nullptr);
  EXPECT_EQ(cache.Find(""), nullptr);  // the BOOKMARK object is never stored
  EXPECT_EQ(watcher.resource_version(), "48215388");

  // In-band ERROR 410 -> ABORTED (relist), then HTTP 410 -> ABORTED.
  EXPECT_TRUE(absl::IsAborted(watcher.WatchOnce(5)));
  EXPECT_TRUE(absl::IsAborted(watcher.WatchOnce(5)));
  EXPECT_EQ(api.watch_rvs()[1], "48215388");

  // Now the background loop: relist, watch (dropped mid-event), re-watch from the same
  // resourceVersion, then the event arrives whole.
  watcher.Start();
  ASSERT_TRUE(WaitFor([&] { return cache.Find("gpu-h100-0") != nullptr; }));
  EXPECT_TRUE(watcher.synced());
  EXPECT_NE(cache.Find("gpu-l4-0"), nullptr);  // relisted
  ASSERT_TRUE(WaitFor([&] { return api.watches() >= 6; }));
  const std::vector<std::string> rvs = api.watch_rvs();
  EXPECT_EQ(rvs[3], "48213904");  // after the relist
  EXPECT_EQ(rvs[4], "48213904");  // the dropped watch delivered nothing: same resourceVersion
  EXPECT_EQ(rvs[5], "48300000");  // resumes after the event it applied
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_GE(restarts, 2);
  }
  watcher.Stop();  // aborts the open watch promptly
  api.Done();
}

TEST(NodeCacheTest, UnreachableServerBacksOffAndStops) {
  NodeCache cache;
  KubeApiOptions options = TestOptions(1);  // nothing listens on port 1
  std::atomic<int> errors{0};
  NodeWatcherEvents events;
  events.error = [&](const std::string&) { ++errors; };
  NodeWatcher watcher(options, &cache, events);
  watcher.Start();
  ASSERT_TRUE(WaitFor([&] { return errors.load() >= 2; }));
  watcher.Stop();
  EXPECT_FALSE(watcher.synced());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(NodeCacheTest, InClusterNeedsTheServiceEnvironment) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_TRUE(absl::IsNotFound(InClusterOptions().status()));
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  absl::StatusOr<KubeApiOptions> o = InClusterOptions();
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->url, "https://[fd00::1]:443");
  EXPECT_EQ(o->token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace gpufit::k8s

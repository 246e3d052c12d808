// The scheduler extender: fixture round-trips, agreement with `gpufit plan` (core::Place),
// a generated 5000-node cluster in both modes, and bad requests over real HTTP.
#include "server/extender.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/service_config.h"
#include "core/placement.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "k8s/node_inventory.h"
#include "k8s/pod_workload.h"
#include "nlohmann/json.hpp"
#include "server/generated_cluster.h"

namespace gpufit::server {
namespace {

using nlohmann::json;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(GPUFIT_SHARED_DIR) + "/fixtures/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ExtenderTest : public ::testing::Test {
 protected:
  ExtenderTest()
      : store_(std::make_shared<const config::ServiceConfig>(config::DefaultServiceConfig())) {
    // The cache holds the kube-api fixture's three nodes.
    for (const char* page : {"kube-api/nodes-list-page1.json", "kube-api/nodes-list-page2.json"}) {
      const json list = json::parse(Fixture(page));
      for (const json& item : list["items"]) AddToCache(item.dump());
    }
  }
  void AddToCache(const std::string& node) {
    absl::StatusOr<k8s::NodeFacts> facts = k8s::ParseNodeFacts(node);
    ASSERT_TRUE(facts.ok()) << facts.status();
    cache_.Upsert(k8s::BuildInventory(*facts));
  }

  ConfigStore store_;
  k8s::NodeCache cache_;

 public:
  void SetUp() override { ASSERT_EQ(cache_.size(), 3u); }

 protected:
  Extender extender_{&store_, &cache_, nullptr};
};

TEST_F(ExtenderTest, FilterNodesFixture) {
  const std::string request = Fixture("extender/filter-request-nodes.json");
  HttpResponse r = extender_.Filter(request);
  ASSERT_EQ(r.status, 200);
  const json got = json::parse(r.body);
  const json want = json::parse(Fixture("extender/filter-response-nodes.json"));
  // Same shape: every key, PascalCase, null where the fixture has null.
  for (const auto& [key, value] : want.items()) {
    ASSERT_TRUE(got.contains(key)) << key;
    EXPECT_EQ(got[key].type(), value.type()) << key;
  }
  // Same decision as the fixture: the L4 cannot hold Qwen2.5 14B bf16 weights.
  EXPECT_EQ(got["Nodes"]["items"], want["Nodes"]["items"]);  // echoed unchanged
  EXPECT_EQ(got["FailedNodes"], json::object());
  ASSERT_EQ(got["FailedAndUnresolvableNodes"].size(), 1u);
  const std::string why = got["FailedAndUnresolvableNodes"]["gpu-l4-0"];
  EXPECT_EQ(why.rfind("gpufit: memory: needs ", 0), 0u) << why;
  EXPECT_EQ(why.find("gpu-l4-0"), std::string::npos);  // names no node
  EXPECT_EQ(got["Error"], "");
  // The raw bytes of each surviving node are copied, not re-serialised (the fixture is
  // indented; a serialiser would have written compact JSON).
  for (const json& item : got["Nodes"]["items"]) {
    EXPECT_NE(r.body.find(R"("name": ")" + item["metadata"]["name"].get<std::string>()),
              std::string::npos);
  }
}

TEST_F(ExtenderTest, FilterNodeNamesFixture) {
  HttpResponse r = extender_.Filter(Fixture("extender/filter-request-nodenames.json"));
  ASSERT_EQ(r.status, 200);
  const json got = json::parse(r.body);
  const json want = json::parse(Fixture("extender/filter-response-nodenames.json"));
  for (const auto& [key, value] : want.items()) {
    ASSERT_TRUE(got.contains(key)) << key;
    EXPECT_EQ(got[key].type(), value.type()) << key;
  }
  EXPECT_EQ(got["NodeNames"], want["NodeNames"]);
  // gpu-a100-80g-1 is not in the cache; gpu-l4-1 (from the watch fixture) is not either.
  EXPECT_EQ(got["FailedNodes"]["gpu-a100-80g-1"], "gpufit: node not in gpufit's node cache yet");
  EXPECT_TRUE(got["FailedAndUnresolvableNodes"].contains("gpu-l4-0"));
}

TEST_F(ExtenderTest, PrioritizeFixture) {
  HttpResponse r = extender_.Prioritize(Fixture("extender/prioritize-request.json"));
  ASSERT_EQ(r.status, 200);
  const json got = json::parse(r.body);
  const json want = json::parse(Fixture("extender/prioritize-response.json"));
  ASSERT_TRUE(got.is_array());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["Host"], want[i]["Host"]);
    EXPECT_GE(got[i]["Score"].get<int>(), 0);
    EXPECT_LE(got[i]["Score"].get<int>(), 10);
  }
  // As in the fixture, the MIG node ranks first: a slice serves the workload for less.
  EXPECT_EQ(got[0]["Score"], 10);
  EXPECT_LT(got[1]["Score"].get<int>(), 10);
}

TEST_F(ExtenderTest, PodsWithoutAnnotationsPassThrough) {
  json req = json::parse(Fixture("extender/filter-request-nodes.json"));
  req["Pod"]["metadata"].erase("annotations");
  const json got = json::parse(extender_.Filter(req.dump()).body);
  EXPECT_EQ(got["Nodes"]["items"], req["Nodes"]["items"]);
  EXPECT_EQ(got["FailedAndUnresolvableNodes"], json::object());
  const json prio = json::parse(extender_.Prioritize(req.dump()).body);
  for (const json& p : prio) EXPECT_EQ(p["Score"], 0);
}

TEST_F(ExtenderTest, BadAnnotationIsAnErrorForThatPod) {
  json req = json::parse(Fixture("extender/filter-request-nodenames.json"));
  req["Pod"]["metadata"]["annotations"]["gpufit.io/model"] = "acme/nope-3b";
  HttpResponse r = extender_.Filter(req.dump());
  EXPECT_EQ(r.status, 200);
  const json got = json::parse(r.body);
  EXPECT_NE(got["Error"].get<std::string>().find("unknown model 'acme/nope-3b'"),
            std::string::npos);
  EXPECT_TRUE(got["NodeNames"].is_null());
}

TEST_F(ExtenderTest, MalformedRequestsAre400) {
  for (const char* body :
       {"", "{", "[]", R"({"NodeNames":3})", R"({"NodeNames":[1]})", R"({"Pod":[],"NodeNames":[]})",
        R"({"Nodes":{"items":[1]}})", R"({"Nodes":{"items":[{"metadata":{}}]}})", R"({} x)"}) {
    HttpResponse r = extender_.Filter(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_TRUE(json::parse(r.body).contains("error")) << body;
  }
}

// The set of nodes kept is the set of nodes offering a feasible option of `gpufit plan`.
TEST_F(ExtenderTest, AgreesWithPlace) {
  const std::string pods[] = {
      R"({"metadata":{"name":"a","annotations":{"gpufit.io/model":"llama-3-70b","gpufit.io/precision":"int8","gpufit.io/target-concurrency":"10"}}})",
      R"({"metadata":{"name":"b","annotations":{"gpufit.io/model":"llama-3-8b","gpufit.io/precision":"fp8","gpufit.io/target-concurrency":"50","gpufit.io/tpot-ms":"48"}}})",
      testing::SamplePod(),
  };
  const config::ServiceConfig config = config::DefaultServiceConfig();
  for (const std::string& pod_json : pods) {
    absl::StatusOr<k8s::PodInfo> pod = k8s::ParsePod(pod_json);
    ASSERT_TRUE(pod.ok());
    absl::StatusOr<core::Workload> w = k8s::WorkloadFromPod(*pod, config);
    ASSERT_TRUE(w.ok()) << w.status();
    absl::StatusOr<core::Decision> d = core::PlaceWorkload(*w, *config.catalog);
    ASSERT_TRUE(d.ok());
    std::set<std::string> feasible;
    for (const core::Option& o : d->options) {
      // The generated nodes have room for any degree their kind allows.
      if (o.feasible && o.gpus_per_replica <= 2) feasible.insert(o.accelerator->id);
    }
    const json got = json::parse(extender_.Filter(testing::NodesArgs(16, pod_json)).body);
    std::set<std::string> kept;
    for (const json& item : got["Nodes"]["items"]) kept.insert(item["metadata"]["name"]);
    for (int i = 0; i < 16; ++i) {
      absl::StatusOr<k8s::NodeFacts> f = k8s::ParseNodeFacts(testing::GeneratedNode(i));
      const k8s::NodeInventory inv = k8s::BuildInventory(*f);
      bool offers = false;
      for (const k8s::NodeAccelerator& a : inv.accelerators) {
        offers |= feasible.count(a.accelerator_id) > 0 && a.allocatable > 0;
      }
      EXPECT_EQ(kept.count(testing::NodeName(i)) > 0, offers) << pod_json << " " << i;
    }
  }
}

TEST_F(ExtenderTest, GeneratedClusterOf5000NodesInBothModes) {
  constexpr int kNodes = 5000;
  for (int i = 0; i < kNodes; ++i) AddToCache(testing::GeneratedNode(i));
  const std::string nodes_body = testing::NodesArgs(kNodes);
  HttpResponse full = extender_.Filter(nodes_body);
  HttpResponse names = extender_.Filter(testing::NodeNamesArgs(kNodes));
  ASSERT_EQ(full.status, 200);
  ASSERT_EQ(names.status, 200);
  const json a = json::parse(full.body);
  const json b = json::parse(names.body);
  std::vector<std::string> kept;
  for (const json& item : a["Nodes"]["items"]) kept.push_back(item["metadata"]["name"]);
  EXPECT_EQ(json(kept), b["NodeNames"]);
  EXPECT_EQ(a["FailedNodes"], b["FailedNodes"]);
  EXPECT_EQ(a["FailedAndUnresolvableNodes"], b["FailedAndUnresolvableNodes"]);
  EXPECT_GT(kept.size(), 1000u);
  EXPECT_EQ(kept.size() + a["FailedNodes"].size() + a["FailedAndUnresolvableNodes"].size(),
            static_cast<size_t>(kNodes));
  // Surviving nodes are echoed byte for byte.
  for (size_t i = 0; i < 50; ++i) {
    const int index = std::stoi(kept[i].substr(5));
    EXPECT_NE(full.body.find(testing::GeneratedNode(index)), std::string::npos);
  }
  const json prio = json::parse(extender_.Prioritize(testing::NodeNamesArgs(kNodes)).body);
  ASSERT_EQ(prio.size(), static_cast<size_t>(kNodes));
  int tens = 0;
  for (const json& p : prio) tens += p["Score"] == 10;
  EXPECT_GT(tens, 0);
}

// Verdicts are computed once per node shape and call: nodes of one shape share a verdict, a
// node that differs in anything the verdict reads (here only its free GPUs) gets its own, and
// every verdict equals the one a call about that node alone gives.
TEST_F(ExtenderTest, NodesOfOneShapeShareAVerdictOthersDoNot) {
  const auto node = [](int generated, const std::string& name, const char* free_gpus) {
    json n = json::parse(testing::GeneratedNode(generated));
    n["metadata"]["name"] = name;
    n["metadata"]["resourceVersion"] = name + "-rv";  // not part of the shape
    if (free_gpus != nullptr) n["status"]["allocatable"]["nvidia.com/gpu"] = free_gpus;
    return n.dump();
  };
  // Generated node 2 is an A100 80GB x8 node with 8 free GPUs; node 0 an L4 x2.
  const std::string a0 = node(2, "shape-a-0", nullptr);
  const std::string a1 = node(2, "shape-a-1", nullptr);
  const std::string busy = node(2, "shape-a-busy", "0");  // same but no free GPU
  const std::string l4 = node(0, "shape-l4", nullptr);
  for (const std::string* n : {&a0, &a1, &busy, &l4}) AddToCache(*n);

  const auto inventory = [](const std::string& n) {
    return k8s::BuildInventory(*k8s::ParseNodeFacts(n));
  };
  EXPECT_EQ(inventory(a0).shape_hash, inventory(a1).shape_hash);
  EXPECT_TRUE(k8s::SameShape(inventory(a0), inventory(a1)));
  EXPECT_FALSE(k8s::SameShape(inventory(a0), inventory(busy)));
  EXPECT_FALSE(k8s::SameShape(inventory(a0), inventory(l4)));

  const std::string pod = testing::SamplePod();
  const std::vector<std::string> names = {"shape-a-0", "shape-a-busy", "shape-l4", "shape-a-1",
                                          "shape-missing"};
  json names_req = {{"Pod", json::parse(pod)}, {"Nodes", nullptr}, {"NodeNames", names}};
  const json got = json::parse(extender_.Filter(names_req.dump()).body);
  EXPECT_EQ(got["NodeNames"], json::array({"shape-a-0", "shape-a-1"}));
  ASSERT_EQ(got["FailedNodes"].size(), 2u);
  const std::string busy_why = got["FailedNodes"]["shape-a-busy"];
  EXPECT_EQ(busy_why.rfind("gpufit: no free nvidia.com/gpu", 0), 0u) << busy_why;
  EXPECT_EQ(got["FailedNodes"]["shape-missing"], "gpufit: node not in gpufit's node cache yet");
  ASSERT_EQ(got["FailedAndUnresolvableNodes"].size(), 1u);
  EXPECT_NE(got["FailedAndUnresolvableNodes"]["shape-l4"], busy_why);

  // Each node alone, in Nodes mode: the same verdict as in the shared call.
  for (const std::string* n : {&a0, &a1, &busy, &l4}) {
    const std::string body = "{\"Pod\":" + pod + ",\"Nodes\":{\"metadata\":{},\"items\":[" + *n +
                             "]},\"NodeNames\":null}";
    const json alone = json::parse(extender_.Filter(body).body);
    const std::string name = json::parse(*n)["metadata"]["name"];
    const json& kept = got["NodeNames"];
    const bool kept_in_call = std::find(kept.begin(), kept.end(), json(name)) != kept.end();
    EXPECT_EQ(alone["Nodes"]["items"].size(), kept_in_call ? 1u : 0u) << name;
    for (const char* key : {"FailedNodes", "FailedAndUnresolvableNodes"}) {
      if (got[key].contains(name)) {
        EXPECT_EQ(alone[key], json({{name, got[key][name]}})) << name;
      } else {
        EXPECT_EQ(alone[key], json::object()) << name;
      }
    }
  }
  // The two A100 nodes score alike; the busy one scores 0 (no usable option).
  const json prio = json::parse(extender_.Prioritize(names_req.dump()).body);
  ASSERT_EQ(prio.size(), names.size());
  EXPECT_EQ(prio[0]["Score"], 10);
  EXPECT_EQ(prio[3]["Score"], prio[0]["Score"]);
  EXPECT_EQ(prio[1]["Score"], 0);
  EXPECT_EQ(prio[4]["Score"], 0);
}

TEST(ExtenderHttpTest, BadBodiesGet400AndTheServerKeepsServing) {
  ConfigStore store(std::make_shared<const config::ServiceConfig>(config::DefaultServiceConfig()));
  k8s::NodeCache cache;
  ExtenderOptions options;
  options.max_body_bytes = 4096;
  Extender extender(&store, &cache, nullptr, options);
  HttpServer http;
  extender.Register("/gpufit/", &http);
  http.SetLimits(1 << 20, 5);
  absl::StatusOr<int> port = http.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  httplib::Client client("127.0.0.1", *port);
  auto bad = client.Post("/gpufit/filter", "{\"Pod\":", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto wrong = client.Post("/gpufit/prioritize", R"({"NodeNames":{"a":1}})", "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 400);
  auto huge = client.Post("/gpufit/filter", std::string(8192, ' '), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 400);
  // Over the server's limit: 413, refused from Content-Length before the handler (and before
  // the body is read; the client may see the connection close before it has sent it all).
  auto too_huge = client.Post("/gpufit/filter", std::string(2 << 20, ' '), "application/json");
  if (too_huge) {
    EXPECT_EQ(too_huge->status, 413);
    EXPECT_THAT(json::parse(too_huge->body)["error"].get<std::string>(),
                ::testing::HasSubstr("the limit is 1048576 bytes"));
  }
  auto ok = client.Post("/gpufit/filter", R"({"Pod":null,"Nodes":null,"NodeNames":["n"]})",
                        "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["NodeNames"], json::array({"n"}));
  http.Stop();
}

}  // namespace
}  // namespace gpufit::server

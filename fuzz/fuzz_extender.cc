// Scheduler-extender request bodies: server::Extender::Filter and Prioritize, with the node
// cache holding the kube-api fixture's nodes (NodeNames mode) and the default config.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "config/service_config.h"
#include "k8s/node_cache.h"
#include "k8s/node_inventory.h"
#include "nlohmann/json.hpp"
#include "server/config_store.h"
#include "server/extender.h"

namespace {
struct Fixture {
  Fixture()
      : store(std::make_shared<const gpufit::config::ServiceConfig>(
            gpufit::config::DefaultServiceConfig())),
        extender(&store, &cache, nullptr) {
    // The kube-api fixture's nodes (both list pages), as the extender tests use them.
    for (const char* page : {"nodes-list-page1.json", "nodes-list-page2.json"}) {
      std::ifstream in(std::string(GPUFIT_SHARED_DIR) + "/fixtures/kube-api/" + page);
      std::stringstream ss;
      ss << in.rdbuf();
      const nlohmann::json list = nlohmann::json::parse(ss.str(), nullptr, false);
      if (!list.is_object() || !list.contains("items")) continue;
      for (const nlohmann::json& item : list["items"]) {
        absl::StatusOr<gpufit::k8s::NodeFacts> facts = gpufit::k8s::ParseNodeFacts(item.dump());
        if (facts.ok()) cache.Upsert(gpufit::k8s::BuildInventory(*facts));
      }
    }
  }
  gpufit::server::ConfigStore store;
  gpufit::k8s::NodeCache cache;
  gpufit::server::Extender extender;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  fixture->extender.Filter(body);
  fixture->extender.Prioritize(body);
  return 0;
}

#include "server/config_store.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "config/catalog_loader.h"
#include "core/placement.h"
#include "gtest/gtest.h"

namespace gpufit::server {
namespace {

std::shared_ptr<const config::ServiceConfig> ConfigWithPrice(double l4_price) {
  auto catalog =
      config::LoadCatalogOverlay("prices: {l4: " + std::to_string(l4_price) + "}\n", "c.yaml");
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  auto c = std::make_shared<config::ServiceConfig>();
  c->catalog = *catalog;
  c->version = (*catalog)->version();
  return c;
}

TEST(ConfigStoreTest, SnapshotSurvivesSwap) {
  ConfigStore store(ConfigWithPrice(1.0));
  std::shared_ptr<const config::ServiceConfig> before = store.Snapshot();
  store.Swap(ConfigWithPrice(2.0));
  EXPECT_DOUBLE_EQ(before->catalog->FindAccelerator("l4")->price_usd_per_hour, 1.0);
  EXPECT_DOUBLE_EQ(store.Snapshot()->catalog->FindAccelerator("l4")->price_usd_per_hour, 2.0);
}

// Readers place workloads (decisions point into the snapshot's catalog) while a writer
// swaps configs; run under TSan/ASan to catch lifetime bugs. Each reader sees a consistent
// config: the price of the option it got equals the price in the catalog it held.
TEST(ConfigStoreTest, ConcurrentReadersAndSwaps) {
  ConfigStore store(ConfigWithPrice(1.0));
  std::vector<std::shared_ptr<const config::ServiceConfig>> configs;
  for (int i = 1; i <= 4; ++i) configs.push_back(ConfigWithPrice(0.5 * i));
  std::atomic<bool> stop{false};
  std::atomic<int> placements{0};
  std::atomic<int> inconsistent{0};
  core::Workload w;
  w.model = "llama-3-8b";
  w.traffic.concurrency = 10;
  w.accelerators = {"l4"};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        const std::shared_ptr<const config::ServiceConfig> snap = store.Snapshot();
        const absl::StatusOr<core::Decision> d = core::PlaceWorkload(w, *snap->catalog);
        if (!d.ok() || d->recommendation() == nullptr ||
            d->recommendation()->accelerator != snap->catalog->FindAccelerator("l4")) {
          ++inconsistent;
        }
        ++placements;
      }
    });
  }
  // Until the readers have run too: on a busy machine the writer could otherwise finish
  // before any reader thread is scheduled, and the test would check nothing.
  for (int i = 0; i < 400 || placements.load() < 400; ++i) {
    store.Swap(configs[i % configs.size()]);
    // Drop our own references too, so that swapped-out configs are freed while in use.
    if (i % 50 == 0) std::this_thread::yield();
  }
  configs.clear();
  for (int i = 0; i < 50; ++i) store.Swap(ConfigWithPrice(3.0 + i));
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_GT(placements.load(), 0);
  EXPECT_EQ(inconsistent.load(), 0);
}

}  // namespace
}  // namespace gpufit::server

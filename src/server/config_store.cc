#include "server/config_store.h"

#include <utility>

namespace gpufit::server {

ConfigStore::ConfigStore(std::shared_ptr<const config::ServiceConfig> initial)
    : current_(std::move(initial)) {}

std::shared_ptr<const config::ServiceConfig> ConfigStore::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void ConfigStore::Swap(std::shared_ptr<const config::ServiceConfig> next) {
  std::shared_ptr<const config::ServiceConfig> previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    previous = std::exchange(current_, std::move(next));
  }
  // `previous` may be the last reference: free it outside the lock.
}

}  // namespace gpufit::server

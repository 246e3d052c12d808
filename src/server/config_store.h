// The config in force, swapped atomically on reload. Readers take a snapshot per call and
// keep it for the whole call: decisions point into its catalog, so the snapshot must outlive
// them, and an old config is freed only when its last reader lets go. Thread-safe.
#ifndef GPUFIT_SERVER_CONFIG_STORE_H_
#define GPUFIT_SERVER_CONFIG_STORE_H_

#include <memory>
#include <mutex>

#include "config/service_config.h"

namespace gpufit::server {

class ConfigStore {
 public:
  explicit ConfigStore(std::shared_ptr<const config::ServiceConfig> initial);

  // Never null.
  std::shared_ptr<const config::ServiceConfig> Snapshot() const;
  // `next` must not be null; calls in flight keep the config they started with.
  void Swap(std::shared_ptr<const config::ServiceConfig> next);

 private:
  mutable std::mutex mu_;  // held only to copy or replace the pointer
  std::shared_ptr<const config::ServiceConfig> current_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_CONFIG_STORE_H_

// Hot reload of gpufitd's --config file: on SIGHUP (Reload) and when a poll sees the file
// change (mtime, size, then a content hash, so a touch without edits is not a reload) and
// then unchanged at the next poll: a file being rewritten in place (`cat > file`) is read
// once its writer has stopped, not half-written when the first half happens to be valid
// YAML. (Write-then-rename, as ConfigMap volumes and most editors do, is atomic anyway.) A
// valid file is installed atomically; an invalid one (syntax, fields, a deleted or truncated
// file) is logged as one error line and the previous config keeps serving. Both outcomes are
// counted in metrics. Thread-safe: reloads are serialised.
#ifndef GPUFIT_SERVER_RELOADER_H_
#define GPUFIT_SERVER_RELOADER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/service_config.h"
#include "metrics/config_probe.h"
#include "server/logging.h"
#include "server/poll_loop.h"

namespace gpufit::server {

class ConfigReloader {
 public:
  // Puts a loaded config in force (bind metrics, swap the ConfigStore).
  using InstallFn = std::function<void(std::shared_ptr<const config::ServiceConfig>)>;

  // `logger` and `probe` are not owned and must outlive the reloader.
  ConfigReloader(std::string path, Logger* logger, metrics::ConfigProbe* probe, InstallFn install);
  ~ConfigReloader();  // StopPolling()s
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // The startup load: installs the config or returns the error (the daemon exits).
  absl::Status LoadInitial();
  // Loads the file now whatever its fingerprint says. True if the new config is in force.
  bool Reload(std::string_view trigger);
  // Checks the file once; reloads if it changed before the previous check and not since.
  // True if a reload was attempted.
  bool PollOnce();

  // PollOnce() every `interval` on a background thread until StopPolling().
  void StartPolling(std::chrono::milliseconds interval);
  void StopPolling();

 private:
  // What the poll compares. A missing file is a state of its own, so that deleting the file
  // is one (failed) reload and recreating it another.
  struct Fingerprint {
    bool exists = false;
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t content_hash = 0;
  };

  // Reads the file: its text, or the read error; `*fp` describes what was read.
  absl::StatusOr<std::string> Read(Fingerprint* fp) const;
  Fingerprint Stat() const;
  bool LoadLocked(const absl::StatusOr<std::string>& text, std::string_view trigger);

  const std::string path_;
  Logger* logger_;
  metrics::ConfigProbe* probe_;
  InstallFn install_;

  std::mutex mu_;  // serialises loads; guards last_
  Fingerprint last_;
  // What the previous poll saw when it differed from last_ (a change not yet loaded).
  std::optional<Fingerprint> settling_;

  PollLoop poller_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_RELOADER_H_

// Hot reload of gpufitd's --config file: on SIGHUP (Reload) and when a poll sees the file
// change (mtime, size, then a content hash, so a touch without edits is not a reload) and
// then unchanged at the next poll: a file being rewritten in place (`cat > file`) is read
// once its writer has stopped, not half-written when the first half happens to be valid
// YAML. (Write-then-rename, as ConfigMap volumes and most editors do, is atomic anyway.) A
// valid file is installed atomically; an invalid one (syntax, fields, a deleted or truncated
// file) is logged as one error line and the previous config keeps serving. Both outcomes are
// counted in metrics. The file is read through config::internal::ReadFileToString (a regular
// file within its size cap: a FIFO, a device or a directory is a failed reload, never a hang
// or an unbounded read), and read and parsed without holding the reloader's lock, so that a
// SIGHUP never waits behind a poll. Thread-safe: concurrent reloads are applied in the order
// they started reading, and one that a later read overtook is dropped.
#ifndef GPUFIT_SERVER_RELOADER_H_
#define GPUFIT_SERVER_RELOADER_H_

#include <atomic>
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
  absl::StatusOr<config::ServiceConfig> Parse(const absl::StatusOr<std::string>& text) const;
  // Installs `loaded`, or counts and logs its error. True if installed.
  bool ApplyLocked(absl::StatusOr<config::ServiceConfig> loaded, std::string_view trigger);

  const std::string path_;
  Logger* logger_;
  metrics::ConfigProbe* probe_;
  InstallFn install_;

  std::atomic<uint64_t> reads_started_{0};  // numbers the reads, in the order they start
  std::mutex mu_;  // held to compare and apply, never across a read; guards what follows
  uint64_t last_applied_read_ = 0;  // the number of the read last_ describes
  Fingerprint last_;
  // What the previous poll saw when it differed from last_ (a change not yet loaded).
  std::optional<Fingerprint> settling_;

  PollLoop poller_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_RELOADER_H_

#include "server/reloader.h"

#include <sys/stat.h>

#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "config/yaml_reader.h"

namespace gpufit::server {
namespace {

uint64_t HashText(std::string_view text) { return std::hash<std::string_view>{}(text); }

}  // namespace

ConfigReloader::ConfigReloader(std::string path, Logger* logger, metrics::ConfigProbe* probe,
                               InstallFn install)
    : path_(std::move(path)), logger_(logger), probe_(probe), install_(std::move(install)) {}

ConfigReloader::~ConfigReloader() { StopPolling(); }

ConfigReloader::Fingerprint ConfigReloader::Stat() const {
  Fingerprint fp;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return fp;
  fp.exists = true;
  fp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  fp.size = static_cast<int64_t>(st.st_size);
  return fp;
}

absl::StatusOr<std::string> ConfigReloader::Read(Fingerprint* fp) const {
  *fp = Stat();
  absl::StatusOr<std::string> text = config::internal::ReadFileToString(path_);
  if (!text.ok()) {
    *fp = Fingerprint{};
    return text;
  }
  fp->exists = true;
  fp->content_hash = HashText(*text);
  return text;
}

absl::StatusOr<config::ServiceConfig> ConfigReloader::Parse(
    const absl::StatusOr<std::string>& text) const {
  if (!text.ok()) return text.status();
  return config::ParseServiceConfig(*text, path_);
}

absl::Status ConfigReloader::LoadInitial() {
  const uint64_t read_number = ++reads_started_;
  Fingerprint fp;
  const absl::StatusOr<std::string> text = Read(&fp);
  absl::StatusOr<config::ServiceConfig> loaded = Parse(text);
  if (!loaded.ok()) return loaded.status();
  std::lock_guard<std::mutex> lock(mu_);
  last_applied_read_ = read_number;
  last_ = fp;
  auto next = std::make_shared<const config::ServiceConfig>(*std::move(loaded));
  const std::string version = next->version;
  install_(std::move(next));
  probe_->ConfigLoaded(version, absl::ToUnixMillis(absl::Now()) / 1000.0, /*reload=*/false);
  return absl::OkStatus();
}

bool ConfigReloader::Reload(std::string_view trigger) {
  // Read and parsed without the lock: a SIGHUP never waits behind a poll's read, nor a
  // poll behind a SIGHUP's (ReadFileToString itself never blocks on a FIFO or reads a device).
  const uint64_t read_number = ++reads_started_;
  Fingerprint fp;
  const absl::StatusOr<std::string> text = Read(&fp);
  absl::StatusOr<config::ServiceConfig> loaded = Parse(text);
  std::lock_guard<std::mutex> lock(mu_);
  if (read_number < last_applied_read_) return false;  // a later read is in force
  last_applied_read_ = read_number;
  last_ = fp;
  settling_.reset();
  return ApplyLocked(std::move(loaded), trigger);
}

bool ConfigReloader::PollOnce() {
  const Fingerprint now = Stat();
  uint64_t read_number = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto same_stat = [](const Fingerprint& a, const Fingerprint& b) {
      return a.exists == b.exists && (!a.exists || (a.mtime_ns == b.mtime_ns && a.size == b.size));
    };
    if (same_stat(now, last_)) {
      settling_.reset();
      return false;
    }
    // Changed: load only once a whole poll interval has passed without a further change.
    if (!settling_.has_value() || !same_stat(now, *settling_)) {
      settling_ = now;
      return false;
    }
    settling_.reset();
    read_number = ++reads_started_;
  }
  Fingerprint fp;
  const absl::StatusOr<std::string> text = Read(&fp);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (read_number < last_applied_read_) return false;
    const bool changed = fp.exists != last_.exists || fp.content_hash != last_.content_hash;
    if (!changed) {  // touched, or rewritten with the same text
      last_applied_read_ = read_number;
      last_ = fp;
      return false;
    }
  }
  absl::StatusOr<config::ServiceConfig> loaded = Parse(text);
  std::lock_guard<std::mutex> lock(mu_);
  if (read_number < last_applied_read_) return false;
  last_applied_read_ = read_number;
  last_ = fp;
  ApplyLocked(std::move(loaded), "file change");
  return true;
}

bool ConfigReloader::ApplyLocked(absl::StatusOr<config::ServiceConfig> loaded,
                                 std::string_view trigger) {
  if (!loaded.ok()) {
    probe_->ReloadFailed();
    logger_->Error("config reload failed", {{"error", std::string(loaded.status().message())},
                                            {"trigger", std::string(trigger)},
                                            {"config", path_}});
    return false;
  }
  auto next = std::make_shared<const config::ServiceConfig>(*std::move(loaded));
  const std::string version = next->version;
  const size_t workloads = next->workloads.size();
  install_(std::move(next));
  probe_->ConfigLoaded(version, absl::ToUnixMillis(absl::Now()) / 1000.0, /*reload=*/true);
  logger_->Info("config reloaded", {{"catalog_version", version},
                                    {"workloads", workloads},
                                    {"trigger", std::string(trigger)},
                                    {"config", path_}});
  return true;
}

void ConfigReloader::StartPolling(std::chrono::milliseconds interval) {
  poller_.Start(interval, [this] { PollOnce(); });
}

void ConfigReloader::StopPolling() { poller_.Stop(); }

}  // namespace gpufit::server

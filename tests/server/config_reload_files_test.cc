// Config reload against paths that are not config files (issue 13, the probe's finding 8): a
// FIFO, a symlink to /dev/zero, a directory, a file over the size cap. Each is a failed
// reload with a clear error, counted, with the old config still in force; none blocks or
// reads without bound; and SIGHUP (Reload()), the poll and SIGTERM (Shutdown()) never hang on
// one. Symlinks to regular files (Kubernetes ConfigMap volumes) reload as before.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/yaml_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics.h"
#include "metrics/metrics_text.h"
#include "server/config_store.h"
#include "server/daemon.h"
#include "server/daemon_fixture.h"
#include "server/reloader.h"

namespace gpufit::server {
namespace {

using ::gpufit::testing::MetricValue;
using ::testing::HasSubstr;

constexpr char kGood[] = "version: good\nprices: {l4: 0.5}\n";
constexpr char kBetter[] = "version: better\nprices: {l4: 0.6}\n";

// Runs `fn` on another thread; false if it has not returned within a bounded wait. A FIFO
// at `fifo` (if any) is then opened for writing, which releases a reader blocked opening it,
// so that a regression fails the test instead of hanging it.
bool ReturnsInTime(const std::function<void()>& fn, const std::string& fifo = "") {
  auto done = std::async(std::launch::async, fn);
  if (done.wait_for(std::chrono::seconds(20)) == std::future_status::ready) return true;
  for (int i = 0;
       i < 100 && done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready; ++i) {
    const int fd = fifo.empty() ? -1 : ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  return false;
}

class ConfigReloadFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/gpufit-reload-files-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str()), 0);
    path_ = dir_ + "/gpufitd.yaml";
    Put(kGood);
    reloader_ = std::make_unique<ConfigReloader>(
        path_, &logger_, &metrics_.config(),
        [this](std::shared_ptr<const config::ServiceConfig> c) { store_.Swap(std::move(c)); });
    ASSERT_TRUE(reloader_->LoadInitial().ok());
    good_version_ = store_.Snapshot()->version;
  }
  void TearDown() override {
    reloader_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  // Puts `text` at the config path as a regular file (write, then rename over).
  void Put(const std::string& text) {
    std::ofstream(dir_ + "/.tmp") << text;
    ASSERT_EQ(std::rename((dir_ + "/.tmp").c_str(), path_.c_str()), 0);
  }
  // Replaces whatever is at the config path with what `make(tmp)` creates at `tmp`.
  void Replace(const std::function<int(const std::string&)>& make) {
    const std::string tmp = dir_ + "/.next";
    std::system(("rm -rf " + tmp).c_str());
    ASSERT_EQ(make(tmp), 0);
    std::system(("rm -rf " + path_).c_str());
    ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
  }
  double Reloads(const std::string& result) {
    return MetricValue(metrics_.Serialize(), "gpufit_config_reloads_total", {{"result", result}})
        .value_or(-1);
  }

  std::string dir_;
  std::string path_;
  std::ostringstream log_;
  Logger logger_{&log_};
  metrics::Metrics metrics_{"0"};
  ConfigStore store_{std::make_shared<const config::ServiceConfig>(config::DefaultServiceConfig())};
  std::unique_ptr<ConfigReloader> reloader_;
  std::string good_version_;
};

TEST_F(ConfigReloadFilesTest, EachNonConfigPathIsAFailedReloadAndTheOldConfigStays) {
  struct Fault {
    std::string name;
    std::function<int(const std::string&)> make;
    std::string error;
  };
  const std::vector<Fault> faults = {
      {"fifo", [](const std::string& p) { return ::mkfifo(p.c_str(), 0600); },
       "is a FIFO (named pipe), not a regular file"},
      {"symlink to /dev/zero",
       [](const std::string& p) { return ::symlink("/dev/zero", p.c_str()); },
       "is a character device, not a regular file"},
      {"directory", [](const std::string& p) { return ::mkdir(p.c_str(), 0700); },
       "is a directory, not a regular file"},
      {"over the cap",
       [](const std::string& p) {
         std::ofstream(p) << kBetter;  // valid YAML, then 8 MiB of nothing (sparse)
         return ::truncate(p.c_str(), config::internal::kMaxConfigFileBytes + 1);
       },
       "larger than the 8388608-byte cap"},
  };
  for (const Fault& fault : faults) {
    SCOPED_TRACE(fault.name);
    Replace(fault.make);
    const double failures = Reloads("failure");
    log_.str("");
    bool reloaded = true;
    ASSERT_TRUE(ReturnsInTime([&] { reloaded = reloader_->Reload("SIGHUP"); }, path_))
        << "Reload() hung";
    EXPECT_FALSE(reloaded);
    EXPECT_EQ(store_.Snapshot()->version, good_version_) << "the old config stays in force";
    EXPECT_EQ(Reloads("failure"), failures + 1);
    EXPECT_THAT(log_.str(), HasSubstr("config reload failed"));
    EXPECT_THAT(log_.str(), HasSubstr(path_ + ": cannot read: " + fault.error));
    // The poll makes no more of it than one failure (at most), and never blocks either.
    ASSERT_TRUE(ReturnsInTime(
        [&] {
          reloader_->PollOnce();
          reloader_->PollOnce();
        },
        path_));
    EXPECT_EQ(store_.Snapshot()->version, good_version_);
  }
  EXPECT_EQ(Reloads("success"), 0);
  // A config file again: taken.
  std::system(("rm -rf " + path_).c_str());
  Put(kBetter);
  EXPECT_TRUE(reloader_->Reload("SIGHUP"));
  EXPECT_NE(store_.Snapshot()->version, good_version_);
}

// A ConfigMap volume: the file is a symlink into ..data, itself a symlink to a timestamped
// directory that an update replaces in one rename.
TEST_F(ConfigReloadFilesTest, ConfigMapSymlinksAreFollowed) {
  ASSERT_EQ(std::system(("cd " + dir_ +
                         " && rm -f gpufitd.yaml && mkdir ..v1 ..v2 && "
                         "ln -s ..v1 ..data && ln -s ..data/gpufitd.yaml gpufitd.yaml")
                            .c_str()),
            0);
  std::ofstream(dir_ + "/..v1/gpufitd.yaml") << kGood;
  std::ofstream(dir_ + "/..v2/gpufitd.yaml") << kBetter;
  EXPECT_TRUE(reloader_->Reload("SIGHUP"));
  EXPECT_EQ(store_.Snapshot()->version, good_version_);
  ASSERT_EQ(
      std::system(("cd " + dir_ + " && ln -s ..v2 ..data_tmp && mv -T ..data_tmp ..data").c_str()),
      0);
  EXPECT_FALSE(reloader_->PollOnce());  // seen; read once it has stayed so for a poll
  EXPECT_TRUE(reloader_->PollOnce());
  EXPECT_NE(store_.Snapshot()->version, good_version_);
  EXPECT_EQ(Reloads("failure"), 0);
}

// SIGHUP and the poll at once, on a FIFO: neither waits on the other, and each returns.
TEST_F(ConfigReloadFilesTest, ConcurrentReloadsOnAFifoAllReturn) {
  Replace([](const std::string& p) { return ::mkfifo(p.c_str(), 0600); });
  ASSERT_TRUE(ReturnsInTime(
      [&] {
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
          threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
              if (t % 2 == 0) {
                reloader_->Reload("SIGHUP");
              } else {
                reloader_->PollOnce();
              }
            }
          });
        }
        for (std::thread& th : threads) th.join();
      },
      path_));
  EXPECT_EQ(store_.Snapshot()->version, good_version_);
  EXPECT_GE(Reloads("failure"), 1);
}

class DaemonConfigFilesTest : public ::gpufit::testing::DaemonFixture {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/gpufit-daemon-files-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str()), 0);
    path_ = dir_ + "/gpufitd.yaml";
  }
  void TearDown() override {
    // Stopped here, with the FIFO still in place.
    ASSERT_TRUE(ReturnsInTime([&] { daemon_.reset(); }, path_)) << "~Daemon hung";
    std::system(("rm -rf " + dir_).c_str());
  }
  std::string dir_;
  std::string path_;
};

// The probe's finding 8: with the config a FIFO, SIGHUP and SIGTERM hung.
TEST_F(DaemonConfigFilesTest, SighupPollAndShutdownDoNotHangOnAFifo) {
  std::ofstream(path_) << kGood;
  DaemonOptions options;
  options.config_path = path_;
  options.reload_poll_seconds = 1;
  ASSERT_TRUE(StartDaemon(options).ok());
  const std::string version = daemon_->store().Snapshot()->version;
  const auto failures = [&] {
    return MetricValue(daemon_->metrics().Serialize(), "gpufit_config_reloads_total",
                       {{"result", "failure"}})
        .value_or(0);
  };
  ASSERT_EQ(std::remove(path_.c_str()), 0);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  // The poll meets it first: one failed reload, and the poll thread goes on.
  bool polled = false;
  ASSERT_TRUE(ReturnsInTime(
      [&] {
        for (int i = 0; i < 300 && !polled; ++i) {
          polled = failures() >= 1;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      },
      path_));
  EXPECT_TRUE(polled) << "the poll did not report the FIFO";
  bool reloaded = true;
  ASSERT_TRUE(ReturnsInTime([&] { reloaded = daemon_->Reload(); }, path_)) << "SIGHUP hung";
  EXPECT_FALSE(reloaded);
  EXPECT_GE(failures(), 2);
  EXPECT_TRUE(daemon_->ready());
  EXPECT_EQ(daemon_->store().Snapshot()->version, version);
  ASSERT_TRUE(ReturnsInTime([&] { daemon_->Shutdown(); }, path_)) << "SIGTERM hung";
}

TEST_F(DaemonConfigFilesTest, StartRefusesAFifoConfig) {
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  DaemonOptions options;
  options.config_path = path_;
  absl::Status s;
  ASSERT_TRUE(ReturnsInTime([&] { s = StartDaemon(options); }, path_)) << "Start() hung";
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr(path_ + ": cannot read: is a FIFO"));
}

}  // namespace
}  // namespace gpufit::server

// internal::ReadFileToString, through which every config, catalog, workload, fleet, TLS and
// token file is read: regular files only (a FIFO must not block the reader, /dev/zero must
// not be read forever), symlinks to regular files followed (ConfigMap volumes), a size cap,
// and errors that name the path and what is wrong with it.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>

#include "config/service_config.h"
#include "config/yaml_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::config::internal {
namespace {

using ::testing::HasSubstr;

class ReadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/gpufit-read-" + std::to_string(getpid());
    ::mkdir(dir_.c_str(), 0700);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

// Reads `path` on another thread; the error message, or "ok", or "hung" when it did not
// return within a bounded wait. A reader blocked in open() on a FIFO is released by opening
// the FIFO's write end, so that the test fails instead of hanging.
std::string ReadBounded(const std::string& path, size_t max_bytes = kMaxConfigFileBytes) {
  auto read = std::async(std::launch::async, [&] { return ReadFileToString(path, max_bytes); });
  if (read.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    read.wait();
    return "hung";
  }
  const absl::StatusOr<std::string> text = read.get();
  if (text.ok()) return "ok";
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  return std::string(text.status().message());
}

TEST_F(ReadFileTest, ReadsARegularFileAndASymlinkToOne) {
  std::ofstream(Path("a.yaml")) << "prices: {l4: 1}\n";
  ASSERT_EQ(::symlink(Path("a.yaml").c_str(), Path("link.yaml").c_str()), 0);
  EXPECT_EQ(*ReadFileToString(Path("a.yaml")), "prices: {l4: 1}\n");
  EXPECT_EQ(*ReadFileToString(Path("link.yaml")), "prices: {l4: 1}\n");
  EXPECT_EQ(*ReadFileToString(Path("a.yaml"), 16), "prices: {l4: 1}\n");  // exactly the cap
}

// The probe's finding 8: a FIFO blocked the reload thread in fopen, holding its lock.
TEST_F(ReadFileTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0600), 0);
  EXPECT_EQ(ReadBounded(Path("fifo")),
            Path("fifo") + ": cannot read: is a FIFO (named pipe), not a regular file");
  // A symlink to it, as a ConfigMap-style path would be.
  ASSERT_EQ(::symlink(Path("fifo").c_str(), Path("to-fifo").c_str()), 0);
  EXPECT_THAT(ReadBounded(Path("to-fifo")), HasSubstr("is a FIFO (named pipe)"));
}

// The probe's finding 8: a symlink to /dev/zero grew RSS by ~140 MB/s.
TEST_F(ReadFileTest, DevicesAreRefusedWithoutReading) {
  ASSERT_EQ(::symlink("/dev/zero", Path("zero.yaml").c_str()), 0);
  EXPECT_EQ(ReadBounded(Path("zero.yaml")),
            Path("zero.yaml") + ": cannot read: is a character device, not a regular file");
  EXPECT_THAT(ReadBounded("/dev/null"), HasSubstr("is a character device"));
}

TEST_F(ReadFileTest, ADirectoryIsRefused) {
  EXPECT_EQ(ReadBounded(dir_), dir_ + ": cannot read: is a directory, not a regular file");
}

TEST_F(ReadFileTest, ASocketIsRefused) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = Path("sock");
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // open() of a socket fails (ENXIO) before there is anything to check.
  EXPECT_THAT(ReadBounded(path), HasSubstr(path + ": cannot read: "));
  ::close(fd);
}

TEST_F(ReadFileTest, AFileOverTheCapIsRefused) {
  // Sparse: 8 MiB + 1 byte on no disk.
  {
    std::ofstream(Path("big.yaml")) << "";
    ASSERT_EQ(::truncate(Path("big.yaml").c_str(), kMaxConfigFileBytes + 1), 0);
  }
  EXPECT_EQ(ReadBounded(Path("big.yaml")),
            Path("big.yaml") +
                ": cannot read: larger than the 8388608-byte cap on the files gpufit reads");
  EXPECT_EQ(ReadBounded(Path("big.yaml"), 100),
            Path("big.yaml") +
                ": cannot read: larger than the 100-byte cap on the files gpufit "
                "reads");
  // Files whose size the kernel does not know up front are cut at the cap too.
  EXPECT_THAT(ReadBounded("/proc/self/maps", 10), HasSubstr("larger than the 10-byte cap"));
}

TEST_F(ReadFileTest, MissingAndUnreadableFilesAreNotFound) {
  EXPECT_EQ(ReadBounded(Path("none.yaml")),
            Path("none.yaml") + ": cannot read: No such file or directory");
}

// Every loader goes through it: the service config refuses a FIFO the same way.
TEST_F(ReadFileTest, LoadersRefuseAFifo) {
  ASSERT_EQ(::mkfifo(Path("gpufitd.yaml").c_str(), 0600), 0);
  auto load =
      std::async(std::launch::async, [&] { return LoadServiceConfigFile(Path("gpufitd.yaml")); });
  if (load.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    const int fd = ::open(Path("gpufitd.yaml").c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL() << "LoadServiceConfigFile blocked on a FIFO";
  }
  const absl::StatusOr<ServiceConfig> c = load.get();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("is a FIFO"));
}

}  // namespace
}  // namespace gpufit::config::internal

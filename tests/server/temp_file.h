// A file under the test's temporary directory, named per process so that parallel test runs
// never share one, and removed when the object goes.
#ifndef GPUFIT_TESTS_SERVER_TEMP_FILE_H_
#define GPUFIT_TESTS_SERVER_TEMP_FILE_H_

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace gpufit::testing {

class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(::testing::TempDir() + "/" + std::to_string(getpid()) + "-" + name) {}
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  // Write-then-rename, as editors and ConfigMap updates do.
  void Write(const std::string& text) const {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::rename(tmp.c_str(), path_.c_str());
  }

 private:
  std::string path_;
};

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_SERVER_TEMP_FILE_H_

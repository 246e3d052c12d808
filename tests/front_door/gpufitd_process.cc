#include "front_door/gpufitd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace gpufit::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A field of /proc/PID/status in bytes ("VmRSS:   24312 kB").
size_t StatusBytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(field.size() + 1));
    size_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  return 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

GpufitdProcess::~GpufitdProcess() {
  if (pid_ > 0 && Alive()) {
    ::kill(pid_, SIGKILL);
    WaitExit(std::chrono::seconds(10));
  }
  if (!log_path_.empty()) ::unlink(log_path_.c_str());
}

absl::Status GpufitdProcess::Start(const std::string& binary,
                                   const std::vector<std::string>& args) {
  char log_template[] = "/tmp/gpufitd-test-log.XXXXXX";
  const int log_fd = ::mkstemp(log_template);
  if (log_fd < 0) return absl::InternalError("mkstemp failed");
  log_path_ = log_template;

  std::vector<std::string> argv = {binary, "--grpc-address", "127.0.0.1:0", "--http-address",
                                   "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    ::dup2(log_fd, STDERR_FILENO);
    const int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    // The test's signal mask must not leak into the daemon, which blocks its own.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  ::close(log_fd);

  // The "serving" line names the bound addresses (server::Daemon::Start).
  const std::regex grpc_re(R"re("grpc_address":"127\.0\.0\.1:(\d+)")re");
  const std::regex http_re(R"re("http_address":"127\.0\.0\.1:(\d+)")re");
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up) {
    const std::string log = Log();
    const size_t serving = log.find("\"msg\":\"serving\"");
    if (serving != std::string::npos) {
      const size_t end = log.find('\n', serving);
      const std::string line = log.substr(serving, end - serving);
      std::smatch g, h;
      if (std::regex_search(line, g, grpc_re) && std::regex_search(line, h, http_re)) {
        grpc_port_ = std::stoi(g[1]);
        http_port_ = std::stoi(h[1]);
        return absl::OkStatus();
      }
      return absl::InternalError("serving line without addresses: " + line);
    }
    if (!Alive()) {
      return absl::FailedPreconditionError(
          absl::StrCat("gpufitd exited with ", exit_code_.value_or(-1), " before serving: ", log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("gpufitd did not report serving within 60 s: " + Log());
}

bool GpufitdProcess::Alive() {
  if (pid_ <= 0 || exit_code_.has_value()) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return false;
}

size_t GpufitdProcess::RssBytes() const { return StatusBytes(pid_, "VmRSS"); }
size_t GpufitdProcess::PeakRssBytes() const { return StatusBytes(pid_, "VmHWM"); }

void GpufitdProcess::ResetPeakRss() const {
  std::ofstream out("/proc/" + std::to_string(pid_) + "/clear_refs");
  out << "5";
}

void GpufitdProcess::Signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

std::optional<int> GpufitdProcess::WaitExit(std::chrono::milliseconds bound) {
  const auto give_up = Clock::now() + bound;
  while (Alive()) {
    if (Clock::now() >= give_up) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

std::string GpufitdProcess::Log() const { return ReadFile(log_path_); }

size_t ChartMemoryLimitBytes(const std::string& values_yaml_path) {
  const YAML::Node values = YAML::LoadFile(values_yaml_path);
  const std::string limit = values["resources"]["limits"]["memory"].as<std::string>();
  const std::vector<std::pair<std::string, size_t>> units = {
      {"Gi", size_t{1} << 30}, {"Mi", size_t{1} << 20}, {"Ki", size_t{1} << 10}};
  for (const auto& [suffix, scale] : units) {
    if (limit.size() > suffix.size() &&
        limit.compare(limit.size() - suffix.size(), suffix.size(), suffix) == 0) {
      size_t n = 0;
      if (absl::SimpleAtoi(limit.substr(0, limit.size() - suffix.size()), &n)) return n * scale;
    }
  }
  return 0;
}

int ConnectLoopback(int port, std::chrono::milliseconds io_timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = io_timeout.count() / 1000;
  tv.tv_usec = (io_timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string ReadUntilClose(int fd, std::chrono::milliseconds bound, size_t max_bytes) {
  std::string out;
  const auto give_up = Clock::now() + bound;
  char buf[16384];
  while (out.size() < max_bytes && Clock::now() < give_up) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    break;  // closed or reset
  }
  return out;
}

int HttpStatusOf(const std::string& text) {
  static const std::regex status_re(R"(^HTTP/1\.[01] (\d{3}))");
  std::smatch m;
  if (!std::regex_search(text, m, status_re)) return 0;
  return std::stoi(m[1]);
}

int HttpResponseCount(const std::string& text) {
  // Status lines; a body without a trailing newline runs straight into the next one.
  static const std::regex status_re(R"(HTTP/1\.[01] \d{3} )");
  return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), status_re),
                                        std::sregex_iterator()));
}

std::string HttpRequest(int port, const std::string& method, const std::string& path,
                        const std::string& body, std::chrono::milliseconds bound) {
  const int fd = ConnectLoopback(port, bound);
  if (fd < 0) return "";
  std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
  if (method == "POST") {
    absl::StrAppend(&request, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                    "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  std::string response;
  if (SendAll(fd, request)) response = ReadUntilClose(fd, bound, size_t{64} << 20);
  ::close(fd);
  return response;
}

}  // namespace gpufit::testing

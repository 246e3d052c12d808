// A background thread that runs a function every interval until stopped: the file polls of
// the config reloader (server/reloader.h) and the TLS reloaders (server/tls_reloader.h).
// Stop() wakes the thread at once rather than waiting out the interval, so that shutdown and
// tests are not held up by a long poll period.
#ifndef GPUFIT_SERVER_POLL_LOOP_H_
#define GPUFIT_SERVER_POLL_LOOP_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace gpufit::server {

class PollLoop {
 public:
  PollLoop() = default;
  ~PollLoop();  // Stop()s
  PollLoop(const PollLoop&) = delete;
  PollLoop& operator=(const PollLoop&) = delete;

  // Runs `poll` every `interval` (the first run one interval from now) until Stop(). A loop
  // already running is stopped first.
  void Start(std::chrono::milliseconds interval, std::function<void()> poll);
  // Returns once the thread has finished; a poll in progress completes first.
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_POLL_LOOP_H_

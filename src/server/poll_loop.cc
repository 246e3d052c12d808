#include "server/poll_loop.h"

#include <utility>

namespace gpufit::server {

PollLoop::~PollLoop() { Stop(); }

void PollLoop::Start(std::chrono::milliseconds interval, std::function<void()> poll) {
  Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this, interval, poll = std::move(poll)] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      poll();
      lock.lock();
    }
  });
}

void PollLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gpufit::server

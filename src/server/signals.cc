#include "server/signals.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

namespace gpufit::server {
namespace {

sigset_t ServerSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockServerSignals() {
  const sigset_t set = ServerSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalThread::SignalThread(std::function<void()> on_reload,
                           std::function<void(int signo)> on_shutdown)
    : thread_([on_reload = std::move(on_reload), on_shutdown = std::move(on_shutdown)] {
        const sigset_t set = ServerSignals();
        for (;;) {
          int signo = 0;
          if (sigwait(&set, &signo) != 0) continue;
          if (signo == SIGHUP) {
            on_reload();
            continue;
          }
          on_shutdown(signo);
          return;
        }
      }) {}

SignalThread::~SignalThread() { Join(); }

void SignalThread::Join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace gpufit::server

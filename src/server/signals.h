// Signal handling without async-signal handlers: SIGHUP, SIGTERM and SIGINT are blocked in
// every thread (BlockServerSignals() in main before any thread starts; threads inherit the
// mask) and one dedicated thread takes them with sigwait() and runs ordinary code.
#ifndef GPUFIT_SERVER_SIGNALS_H_
#define GPUFIT_SERVER_SIGNALS_H_

#include <functional>
#include <thread>

namespace gpufit::server {

// Blocks SIGHUP, SIGTERM, SIGINT in the calling thread. Call first thing in main().
void BlockServerSignals();

class SignalThread {
 public:
  // SIGHUP -> on_reload() (repeatedly); SIGTERM or SIGINT -> on_shutdown(signo), after which
  // the thread ends. The callbacks run on the signal thread.
  SignalThread(std::function<void()> on_reload, std::function<void(int signo)> on_shutdown);
  ~SignalThread();  // joins: returns after a shutdown signal was handled
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  void Join();

 private:
  std::thread thread_;
};

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_SIGNALS_H_

// A thread for one parallel task, started on a CPU other than the caller's.
//
// A new thread is woken on its creator's CPU; on a machine of two (v)CPUs, the creator then often
// waits behind it for 1–3 ms until the scheduler moves one of them to the idle CPU, and the work
// meant for two CPUs runs on one. This thread is created with an affinity that leaves out the
// creator's CPU (when there is another one allowed), and widens it back to every allowed CPU as
// soon as it runs, so that it is never held off a CPU it could use.
#ifndef BACKTEST_SERVER_ENGINE_UTIL_HELPER_THREAD_H_
#define BACKTEST_SERVER_ENGINE_UTIL_HELPER_THREAD_H_

#include <functional>
#include <memory>

namespace backtest::engine {

class HelperThread {
 public:
  HelperThread();
  HelperThread(const HelperThread&) = delete;
  HelperThread& operator=(const HelperThread&) = delete;
  ~HelperThread();

  // Runs `task` on the new thread; false (and `task` not run) when no thread could be started.
  bool Start(std::function<void()> task);
  // Waits for the task to end; no-op when none was started.
  void Join();

 private:
  struct State;
  static void* Run(void* state);
  std::unique_ptr<State> state_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_UTIL_HELPER_THREAD_H_

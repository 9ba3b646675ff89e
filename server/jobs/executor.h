// A fixed pool of threads running submitted tasks in order of submission, with a bounded queue:
// Submit fails instead of growing without bound. Used for blocking reads (stored history) that a
// gRPC reactor must not do on its own thread.
//
// Thread-safe. The owner's destructor closes the queue and joins the threads (tasks still queued
// are dropped).
#ifndef BACKTEST_SERVER_JOBS_EXECUTOR_H_
#define BACKTEST_SERVER_JOBS_EXECUTOR_H_

#include <functional>
#include <thread>
#include <vector>

#include "server/jobs/bounded_queue.h"

namespace backtest::jobs {

class Executor {
 public:
  Executor(int threads, size_t queue_capacity) : queue_(queue_capacity) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        while (auto task = queue_.Pop()) (*task)();
      });
    }
  }
  ~Executor() {
    queue_.Close();
    for (auto& t : threads_) t.join();
  }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // False when the queue is full or closed; the task is not run.
  bool Submit(std::function<void()> task) { return queue_.TryPush(std::move(task)); }

 private:
  BoundedQueue<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_EXECUTOR_H_

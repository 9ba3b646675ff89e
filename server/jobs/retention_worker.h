// The retention pass on a thread of its own: every interval (and at start) it applies the
// retention policy (db/retention.h) on its own connection, and logs what it removed and the space
// it gave back. Stops between two transactions when destroyed.
#ifndef BACKTEST_SERVER_JOBS_RETENTION_WORKER_H_
#define BACKTEST_SERVER_JOBS_RETENTION_WORKER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "db/retention.h"

namespace backtest::db {
class Database;
}

namespace backtest::jobs {

struct RetentionOptions {
  db::RetentionPolicy policy;
  // Time between passes.
  std::chrono::milliseconds interval{std::chrono::minutes(10)};
  // The clock, epoch milliseconds; empty: the system clock.
  std::function<int64_t()> now_ms;

  // Whether the policy removes anything at all (otherwise no worker is started).
  bool enabled() const {
    return policy.keep_days > 0 || policy.max_db_bytes > 0 || policy.max_jobs_per_owner > 0;
  }
};

class RetentionWorker {
 public:
  // Opens its connection to the (migrated) database at `db_path` and starts the thread; the first
  // pass runs at once.
  static absl::StatusOr<std::unique_ptr<RetentionWorker>> Start(const std::string& db_path,
                                                                RetentionOptions options);
  ~RetentionWorker();
  RetentionWorker(const RetentionWorker&) = delete;
  RetentionWorker& operator=(const RetentionWorker&) = delete;

  // Passes completed so far (tests wait on it).
  int64_t passes() const;
  // Asks for a pass now instead of at the end of the interval.
  void Wake();

 private:
  RetentionWorker(std::unique_ptr<db::Database> db, RetentionOptions options);
  void Loop();
  void Pass();

  std::unique_ptr<db::Database> db_;
  RetentionOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool woken_ = false;     // guarded by mu_
  int64_t passes_ = 0;     // guarded by mu_
  std::thread thread_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RETENTION_WORKER_H_

// Retention: removes the oldest ended jobs (finished, failed, cancelled) by age, by the database's
// size budget and by a per-owner count, in small transactions, and gives the freed pages back to
// the file system (incremental vacuum). A queued or running job is never touched. A job's events,
// results, trace rows and reasons go with it (ON DELETE CASCADE), and a dataset goes with the last
// job that refers to it (the job_datasets_release trigger).
//
// Not thread-safe: one Retention per connection, run by one thread (the server's maintenance
// thread). Readers on other connections are never blocked (WAL); other writers wait at most one
// small transaction.
#ifndef BACKTEST_DB_RETENTION_H_
#define BACKTEST_DB_RETENTION_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace SQLite {
class Database;
}

namespace backtest::db {

struct RetentionPolicy {
  // Ended jobs older than this (by their end time) are removed; 0: kept whatever their age.
  int keep_days = 0;
  // The database's live size (its pages in use, WAL excluded) above which the oldest ended jobs
  // are removed until it fits; 0: no budget.
  int64_t max_db_bytes = 0;
  // Ended jobs an owner keeps; older ones beyond the count are removed. 0: no count.
  int max_jobs_per_owner = 0;
  // Jobs removed per transaction, and free pages returned per incremental_vacuum step: a writer
  // waiting behind the pass waits for one such step at most.
  int jobs_per_transaction = 20;
  int pages_per_vacuum_step = 2048;
};

// What one pass did.
struct RetentionReport {
  int jobs_by_age = 0;
  int jobs_by_owner_count = 0;
  int jobs_by_size = 0;
  int64_t live_bytes_before = 0;
  int64_t live_bytes_after = 0;
  int64_t file_bytes_before = 0;  // page_count × page_size: the main file, WAL excluded
  int64_t file_bytes_after = 0;
  int64_t pages_vacuumed = 0;
  bool stopped = false;  // keep_going said no before the pass was done

  int jobs_removed() const { return jobs_by_age + jobs_by_owner_count + jobs_by_size; }
};

// The main file's use of pages.
struct PageUse {
  int64_t page_size = 0;
  int64_t pages = 0;       // page_count
  int64_t free_pages = 0;  // freelist_count
  bool incremental_vacuum = false;  // auto_vacuum = INCREMENTAL

  int64_t file_bytes() const { return pages * page_size; }
  int64_t live_bytes() const { return (pages - free_pages) * page_size; }
};

class Retention {
 public:
  explicit Retention(SQLite::Database& db) : db_(db) {}

  // One pass of `policy` at `now_ms`. `keep_going` is asked between transactions (the server
  // stops a pass when it shuts down); the jobs removed so far stay removed.
  absl::StatusOr<RetentionReport> Run(const RetentionPolicy& policy, int64_t now_ms,
                                      const std::function<bool()>& keep_going = {});

  absl::StatusOr<PageUse> Pages();

 private:
  // Removes, oldest first, up to `limit` ended jobs matching `where` (a condition on the jobs
  // table `j`, bound with :cutoff / :owner when present), a transaction per
  // jobs_per_transaction; returns how many went.
  absl::StatusOr<int> RemoveOldest(const std::string& where, int64_t cutoff, int64_t owner,
                                   int64_t limit, const RetentionPolicy& policy,
                                   const std::function<bool()>& keep_going);
  absl::StatusOr<int> RemoveBySize(const RetentionPolicy& policy,
                                   const std::function<bool()>& keep_going);
  absl::StatusOr<int> RemoveByOwnerCount(const RetentionPolicy& policy,
                                         const std::function<bool()>& keep_going);
  absl::StatusOr<int64_t> Vacuum(const RetentionPolicy& policy,
                                 const std::function<bool()>& keep_going);

  SQLite::Database& db_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_RETENTION_H_

#include "db/retention.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "db/sqlite_status.h"

namespace backtest::db {
namespace {

constexpr char kEnded[] = "j.status IN ('finished', 'failed', 'cancelled')";
// A job's age is its end; a job that ended without one recorded (stored by an old server) counts
// from its submission.
constexpr char kEnd[] = "COALESCE(j.finished_ms, j.created_ms)";
constexpr int64_t kMsPerDay = 24 * 60 * 60 * 1000;

bool KeepGoing(const std::function<bool()>& keep_going) { return !keep_going || keep_going(); }

}  // namespace

absl::StatusOr<PageUse> Retention::Pages() {
  try {
    PageUse use;
    use.page_size = db_.execAndGet("PRAGMA page_size").getInt64();
    use.pages = db_.execAndGet("PRAGMA page_count").getInt64();
    use.free_pages = db_.execAndGet("PRAGMA freelist_count").getInt64();
    use.incremental_vacuum = db_.execAndGet("PRAGMA auto_vacuum").getInt() == 2;
    return use;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read the database's page use");
  }
}

absl::StatusOr<int> Retention::RemoveOldest(const std::string& where, int64_t cutoff,
                                            int64_t owner, int64_t limit,
                                            const RetentionPolicy& policy,
                                            const std::function<bool()>& keep_going) {
  const std::string select =
      absl::StrCat("SELECT j.id FROM jobs j WHERE ", kEnded, where.empty() ? "" : " AND ", where,
                   " ORDER BY ", kEnd, ", j.rowid LIMIT :limit");
  int removed = 0;
  try {
    SQLite::Statement pick(db_, select);
    SQLite::Statement remove(db_, "DELETE FROM jobs WHERE id = ?");
    while (removed < limit && KeepGoing(keep_going)) {
      // The candidates are read inside the write transaction: a job cannot be re-queued (or its
      // status otherwise change) between being picked and being deleted.
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      const int64_t batch = std::min<int64_t>(policy.jobs_per_transaction, limit - removed);
      pick.reset();
      pick.clearBindings();
      if (select.find(":cutoff") != std::string::npos) pick.bind(":cutoff", cutoff);
      if (select.find(":owner") != std::string::npos) pick.bind(":owner", owner);
      pick.bind(":limit", batch);
      std::vector<std::string> ids;
      while (pick.executeStep()) ids.push_back(pick.getColumn(0).getString());
      pick.reset();
      for (const std::string& id : ids) {
        remove.reset();
        remove.bind(1, id);
        remove.exec();
      }
      tx.commit();
      removed += static_cast<int>(ids.size());
      if (static_cast<int64_t>(ids.size()) < batch) break;
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "retention: cannot remove ended jobs");
  }
  return removed;
}

absl::StatusOr<int> Retention::RemoveByOwnerCount(const RetentionPolicy& policy,
                                                  const std::function<bool()>& keep_going) {
  std::vector<std::pair<int64_t, int64_t>> over;  // owner, jobs beyond the count
  try {
    SQLite::Statement q(db_, absl::StrCat("SELECT j.owner_id, COUNT(*) FROM jobs j WHERE ", kEnded,
                                          " GROUP BY j.owner_id HAVING COUNT(*) > :keep"));
    q.bind(":keep", policy.max_jobs_per_owner);
    while (q.executeStep()) {
      over.emplace_back(q.getColumn(0).getInt64(),
                        q.getColumn(1).getInt64() - policy.max_jobs_per_owner);
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "retention: cannot count jobs per owner");
  }
  int removed = 0;
  for (const auto& [owner, extra] : over) {
    absl::StatusOr<int> n =
        RemoveOldest("j.owner_id = :owner", 0, owner, extra, policy, keep_going);
    if (!n.ok()) return n.status();
    removed += *n;
  }
  return removed;
}

absl::StatusOr<int> Retention::RemoveBySize(const RetentionPolicy& policy,
                                            const std::function<bool()>& keep_going) {
  int removed = 0;
  while (KeepGoing(keep_going)) {
    absl::StatusOr<PageUse> use = Pages();
    if (!use.ok()) return use.status();
    if (use->live_bytes() <= policy.max_db_bytes) break;
    // One transaction's worth at a time, then measure again: a deleted row's pages join the
    // free list at once, so the live size follows each step.
    absl::StatusOr<int> n =
        RemoveOldest("", 0, 0, policy.jobs_per_transaction, policy, keep_going);
    if (!n.ok()) return n.status();
    if (*n == 0) break;  // only queued and running jobs left: nothing more may go
    removed += *n;
  }
  return removed;
}

absl::StatusOr<int64_t> Retention::Vacuum(const RetentionPolicy& policy,
                                          const std::function<bool()>& keep_going) {
  int64_t vacuumed = 0;
  while (KeepGoing(keep_going)) {
    absl::StatusOr<PageUse> use = Pages();
    if (!use.ok()) return use.status();
    if (!use->incremental_vacuum || use->free_pages == 0) break;
    try {
      // Each step is a transaction of its own (autocommit) moving at most this many pages.
      const int64_t step = std::min<int64_t>(policy.pages_per_vacuum_step, use->free_pages);
      db_.exec(absl::StrCat("PRAGMA incremental_vacuum(", step, ")"));
      vacuumed += step;
    } catch (const SQLite::Exception& e) {
      return StatusFromSqlite(e, "retention: incremental vacuum failed");
    }
  }
  return vacuumed;
}

absl::StatusOr<RetentionReport> Retention::Run(const RetentionPolicy& policy, int64_t now_ms,
                                               const std::function<bool()>& keep_going) {
  RetentionReport report;
  absl::StatusOr<PageUse> before = Pages();
  if (!before.ok()) return before.status();
  report.live_bytes_before = before->live_bytes();
  report.file_bytes_before = before->file_bytes();

  if (policy.keep_days > 0) {
    absl::StatusOr<int> n =
        RemoveOldest(absl::StrCat(kEnd, " < :cutoff"), now_ms - policy.keep_days * kMsPerDay, 0,
                     INT64_MAX, policy, keep_going);
    if (!n.ok()) return n.status();
    report.jobs_by_age = *n;
  }
  if (policy.max_jobs_per_owner > 0) {
    absl::StatusOr<int> n = RemoveByOwnerCount(policy, keep_going);
    if (!n.ok()) return n.status();
    report.jobs_by_owner_count = *n;
  }
  if (policy.max_db_bytes > 0) {
    absl::StatusOr<int> n = RemoveBySize(policy, keep_going);
    if (!n.ok()) return n.status();
    report.jobs_by_size = *n;
  }
  absl::StatusOr<int64_t> vacuumed = Vacuum(policy, keep_going);
  if (!vacuumed.ok()) return vacuumed.status();
  report.pages_vacuumed = *vacuumed;
  report.stopped = !KeepGoing(keep_going);

  absl::StatusOr<PageUse> after = Pages();
  if (!after.ok()) return after.status();
  report.live_bytes_after = after->live_bytes();
  report.file_bytes_after = after->file_bytes();
  return report;
}

}  // namespace backtest::db

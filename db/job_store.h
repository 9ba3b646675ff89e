// Jobs and their event log in SQLite. Plain row structs in and out.
//
// Not thread-safe: a JobStore works on one connection, used by one thread at a time.
#ifndef BACKTEST_DB_JOB_STORE_H_
#define BACKTEST_DB_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/job_status.h"
#include "db/user_store.h"

namespace SQLite {
class Database;
class Statement;
}

namespace backtest::db {

struct JobRecord {
  std::string id;
  int64_t owner_id = 0;
  std::string owner_name;  // filled by reads (joined from users)
  bool owner_is_staff = false;  // filled by reads (joined from users)
  JobStatus status = JobStatus::kQueued;
  std::string params_json;
  std::string preset;
  // The source hash of its strategy when that is one of the strategy folder's; else empty.
  std::string strategy_source_hash;
  // x-request-id of the call that submitted the job (empty for jobs stored before migration 9).
  std::string request_id;
  // Where its runner runs or ran, opaque ("local pid 1234", "slurm job 57 step 0 on node n12");
  // empty before it started (and for jobs stored before migration 11).
  std::string runner;
  // "sweep" for a sweep's job (it has a row in sweeps), else "backtest"; filled by reads.
  std::string kind = "backtest";
  int64_t pid = 0;
  std::string error;
  double progress_fraction = 0;
  std::string progress_stage;
  int64_t bars_done = 0;
  int64_t bars_total = 0;
  int64_t created_ms = 0;
  std::optional<int64_t> started_ms;
  std::optional<int64_t> finished_ms;
  std::optional<int64_t> heartbeat_ms;
  int64_t last_seq = 0;
  int64_t row = 0;  // storage order (SQLite rowid): a later submission has a larger one
};

// One stored event. seq is assigned by AppendEvents.
struct EventRecord {
  int64_t seq = 0;
  int64_t time_ms = 0;
  std::string kind;  // log, progress, status, trace
  std::string source;
  std::string level;
  std::string text;
  std::string payload;  // kind-specific, opaque to the db
};

// A position in the newest-first job order, for paging.
// Jobs submitted in the same millisecond are ordered by storage order.
struct JobCursor {
  int64_t created_ms = 0;
  int64_t row = 0;
};

struct JobListQuery {
  std::optional<int64_t> owner_id;  // empty: every owner (staff)
  std::optional<JobStatus> status;  // empty: every status
  int limit = 50;
  std::optional<JobCursor> after;   // jobs strictly older than this
};

class JobStore {
 public:
  explicit JobStore(SQLite::Database& db);
  ~JobStore();

  // Inserts a new job (status queued) and its first events, seq from 1, in one transaction.
  absl::Status Insert(const JobRecord& job, std::vector<EventRecord>& events);

  // NotFound when there is no such job.
  absl::StatusOr<JobRecord> Get(absl::string_view id);

  absl::StatusOr<std::vector<JobRecord>> List(const JobListQuery& query);

  // Appends events after the job's last seq (filling in their seq) and applies `update` to the job
  // row, in one transaction; consecutive log lines of one source and level share a row. `update`
  // may change status, and does so only when the current status is one of `from_statuses` (empty:
  // any); otherwise FailedPrecondition naming the current status and nothing is written.
  struct Update {
    std::optional<JobStatus> status;
    std::vector<JobStatus> from_statuses;
    std::optional<std::string> error;
    std::optional<int64_t> pid;
    std::optional<std::string> runner;
    std::optional<int64_t> started_ms;
    std::optional<int64_t> finished_ms;
    std::optional<int64_t> heartbeat_ms;
    std::optional<double> progress_fraction;
    std::optional<std::string> progress_stage;
    std::optional<int64_t> bars_done;
    std::optional<int64_t> bars_total;
  };
  absl::Status Apply(absl::string_view id, const Update& update, std::vector<EventRecord>& events);

  // Events with seq >= from_seq, at most `limit`, in order, one record each (runs of log lines
  // stored as one row are read back line by line). DataLoss when a stored row cannot be read.
  absl::StatusOr<std::vector<EventRecord>> Events(absl::string_view id, int64_t from_seq,
                                                  int limit);

  // The last `lines` log lines of one source (stdout or stderr), oldest first, joined by '\n'.
  absl::StatusOr<std::string> LogTail(absl::string_view id, absl::string_view source, int lines);

  // Every job with `status`, oldest first (restart recovery).
  absl::StatusOr<std::vector<JobRecord>> JobsWithStatus(JobStatus status);

  // What the per-user quota needs of `owner_id`: how many of their jobs are queued or running,
  // and their own limits (`backtestd user limits`). One read.
  struct OwnerQuota {
    int64_t active_jobs = 0;
    UserLimits limits;
  };
  absl::StatusOr<OwnerQuota> QuotaOf(int64_t owner_id);

 private:
  absl::Status AppendEventsLocked(absl::string_view id, int64_t last_seq,
                                  std::vector<EventRecord>& events);
  // The statement for `sql`, compiled at its first use and kept (reset, bindings cleared): a job's
  // writer applies the same few statements hundreds of times.
  SQLite::Statement& Prepared(const std::string& sql);

  SQLite::Database& db_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_JOB_STORE_H_

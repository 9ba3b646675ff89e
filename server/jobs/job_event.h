// One event of a job's log, as the job manager publishes it and the job store keeps it.
#ifndef BACKTEST_SERVER_JOBS_JOB_EVENT_H_
#define BACKTEST_SERVER_JOBS_JOB_EVENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include <vector>

#include "db/job_status.h"
#include "db/job_store.h"
#include "db/trace_store.h"

namespace backtest::jobs {

enum class EventKind { kLog, kProgress, kStatus, kTrace };

struct JobEvent {
  int64_t seq = 0;  // per job, from 1, assigned when stored
  int64_t time_ms = 0;
  EventKind kind = EventKind::kLog;
  // kLog: source is engine, stdout, stderr or server; level debug|info|warning|error.
  std::string source;
  std::string level;
  std::string text;
  // kProgress.
  std::string stage;
  double fraction = 0;
  int64_t bars_done = 0;
  int64_t bars_total = 0;
  // kStatus.
  db::JobStatus status = db::JobStatus::kQueued;
  std::string error;
  // kTrace: rows first_row .. first_row + row_count - 1 of the job's trace. `rows` is set on live
  // events; replayed events load them from the trace table.
  int64_t first_row = 0;
  int64_t row_count = 0;
  bool truncated = false;
  std::shared_ptr<const std::vector<db::TraceRowRecord>> rows;
};

db::EventRecord ToRecord(const JobEvent& event);
// DataLoss when a stored record cannot be decoded.
absl::StatusOr<JobEvent> FromRecord(const db::EventRecord& record);

JobEvent LogEvent(int64_t time_ms, std::string source, std::string level, std::string text);
JobEvent StatusEvent(int64_t time_ms, db::JobStatus status, std::string error);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_JOB_EVENT_H_

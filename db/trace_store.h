// A job's decision trace: rows appended in batches while the job runs, queried by bar, time,
// section, kind and symbol; and the summary of how the trace was recorded (tracing on or off,
// sampling, cut by the row limit), which Explain needs to say why a bar has no rows.
//
// Also answers the one question the trace API asks about a job itself (its owner, status and
// parameters), with a read of the jobs table.
//
// Owned by whoever opened the Database it uses; not thread-safe (one TraceStore per connection).
#ifndef BACKTEST_DB_TRACE_STORE_H_
#define BACKTEST_DB_TRACE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/job_status.h"

namespace SQLite {
class Statement;
}

namespace backtest::db {

class Database;

// One trace row as stored. payload_json is a JSON object (the engine's row payload).
struct TraceRowRecord {
  int64_t seq = 0;  // from 1, unique within the job, in evaluation order
  int64_t bar_index = 0;
  int64_t ts = 0;  // bar open time, UTC epoch seconds
  std::string symbol;
  std::string section;  // indicators, zones, signal, filters, risk, orders, position
  std::string kind;     // value, check, event
  std::string payload_json;

  bool operator==(const TraceRowRecord&) const = default;
};

// Row filters; an unset/empty field does not filter.
struct TraceFilter {
  std::optional<int64_t> bar_index;
  std::optional<int64_t> ts;
  std::string section;
  std::string kind;
  std::string symbol;
};

struct TracePage {
  std::vector<TraceRowRecord> rows;  // in seq order
  int64_t total = 0;                 // rows matching the filter in all
};

// How a job's trace was recorded.
struct TraceSummary {
  bool enabled = false;
  int64_t sampling = 1;     // every Nth bar traced (entries, exits, cancellations always)
  int64_t row_count = 0;    // rows recorded
  bool truncated = false;   // the row limit cut the trace after row_count rows
};

// What the trace API needs to know about a job.
struct JobInfo {
  std::string job_id;
  int64_t owner_id = 0;
  JobStatus status = JobStatus::kQueued;
  std::string params_json;  // the job's full parameter set, as the job service stored it
  int64_t bars_total = 0;   // 0 while unknown
};

class TraceStore {
 public:
  // A bar lookup decodes at most a chunk or two of this many rows.
  static constexpr size_t kMaxChunkRows = 1024;

  static absl::StatusOr<std::unique_ptr<TraceStore>> Create(Database* db);

  ~TraceStore();
  TraceStore(const TraceStore&) = delete;
  TraceStore& operator=(const TraceStore&) = delete;

  // Appends rows (seq strictly increasing, after every seq already stored for the job) in one
  // transaction, as chunks of at most kMaxChunkRows rows. All or nothing. Errors: InvalidArgument
  // when seqs do not increase within `rows`; AlreadyExists when a seq is not after the last stored
  // one; FailedPrecondition when the job does not exist; Unavailable when the database stays
  // locked past the busy timeout.
  absl::Status AppendRows(absl::string_view job_id, std::span<const TraceRowRecord> rows);

  // A page of the rows matching `filter` (seq order) and their total count. `limit` ≥ 1,
  // `offset` ≥ 0 (InvalidArgument otherwise). An unknown job has no rows.
  absl::StatusOr<TracePage> Query(absl::string_view job_id, const TraceFilter& filter,
                                  int64_t limit, int64_t offset);

  // Every row of one bar of one symbol (every symbol when `symbol` is empty), in seq order.
  absl::StatusOr<std::vector<TraceRowRecord>> RowsOfBar(absl::string_view job_id,
                                                        absl::string_view symbol,
                                                        int64_t bar_index);

  // Every row of the bar(s) opening at `ts` of one symbol (every symbol when empty), in seq order.
  absl::StatusOr<std::vector<TraceRowRecord>> RowsAtTime(absl::string_view job_id,
                                                         absl::string_view symbol, int64_t ts);

  // The symbol of the job's first row; empty when the job has no rows.
  absl::StatusOr<std::string> FirstSymbol(absl::string_view job_id);

  // The highest traced bar_index of a symbol; nullopt when it has no rows.
  absl::StatusOr<std::optional<int64_t>> LastTracedBar(absl::string_view job_id,
                                                       absl::string_view symbol);

  // Rows stored for the job.
  absl::StatusOr<int64_t> CountRows(absl::string_view job_id);

  // Records (replaces) how the job's trace was recorded. FailedPrecondition when the job does not
  // exist.
  absl::Status SaveSummary(absl::string_view job_id, const TraceSummary& summary);

  // nullopt when none was saved.
  absl::StatusOr<std::optional<TraceSummary>> GetSummary(absl::string_view job_id);

  // The job's owner, status and parameters. NotFound when there is no such job.
  absl::StatusOr<JobInfo> GetJobInfo(absl::string_view job_id);

 private:
  explicit TraceStore(Database* db);
  // Steps `stmt` (bound; it lists rowid, row_count) and calls `fn(row_count, blob)` for each
  // chunk, where blob() fetches the chunk's bytes; `fn` returns false to stop.
  template <typename Fn>
  void ForEachChunk(SQLite::Statement& stmt, Fn&& fn);
  absl::StatusOr<std::vector<TraceRowRecord>> RowsWhere(absl::string_view job_id,
                                                        const TraceFilter& filter);

  Database* db_;
  std::unique_ptr<SQLite::Statement> insert_chunk_;
  std::unique_ptr<SQLite::Statement> chunk_data_;
  std::unique_ptr<SQLite::Statement> last_seq_;
  std::unique_ptr<SQLite::Statement> chunks_all_;
  std::unique_ptr<SQLite::Statement> chunks_of_bar_;
  std::unique_ptr<SQLite::Statement> chunks_at_ts_;
  std::unique_ptr<SQLite::Statement> chunks_newest_first_;
  std::unique_ptr<SQLite::Statement> count_rows_;
  std::unique_ptr<SQLite::Statement> save_summary_;
  std::unique_ptr<SQLite::Statement> get_summary_;
  std::unique_ptr<SQLite::Statement> job_info_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_TRACE_STORE_H_

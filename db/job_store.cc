#include "db/job_store.h"

#include <span>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"
#include "db/varint.h"

namespace backtest::db {
namespace {

constexpr const char* kJobColumns =
    "j.id, j.owner_id, u.name, j.status, j.params_json, j.preset, j.pid, j.error, "
    "j.progress_fraction, j.progress_stage, j.bars_done, j.bars_total, j.created_ms, "
    "j.started_ms, j.finished_ms, j.heartbeat_ms, j.last_seq, j.rowid, u.is_staff, "
    "j.strategy_source_hash, j.request_id, j.runner, "
    "EXISTS (SELECT 1 FROM sweeps s WHERE s.job_id = j.id)";

std::optional<int64_t> OptionalInt(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

// DataLoss when the row's status is none of JobStatus's (the schema's CHECK allows no other).
absl::StatusOr<JobRecord> ReadJob(SQLite::Statement& q) {
  JobRecord j;
  j.id = q.getColumn(0).getString();
  j.owner_id = q.getColumn(1).getInt64();
  j.owner_name = q.getColumn(2).getString();
  const std::string status = q.getColumn(3).getString();
  std::optional<JobStatus> parsed = ParseJobStatus(status);
  if (!parsed) {
    return absl::DataLossError(absl::StrCat("job ", j.id, " has an unknown status \"", status, "\""));
  }
  j.status = *parsed;
  j.params_json = q.getColumn(4).getString();
  j.preset = q.getColumn(5).getString();
  j.pid = q.getColumn(6).getInt64();
  j.error = q.getColumn(7).getString();
  j.progress_fraction = q.getColumn(8).getDouble();
  j.progress_stage = q.getColumn(9).getString();
  j.bars_done = q.getColumn(10).getInt64();
  j.bars_total = q.getColumn(11).getInt64();
  j.created_ms = q.getColumn(12).getInt64();
  j.started_ms = OptionalInt(q.getColumn(13));
  j.finished_ms = OptionalInt(q.getColumn(14));
  j.heartbeat_ms = OptionalInt(q.getColumn(15));
  j.last_seq = q.getColumn(16).getInt64();
  j.row = q.getColumn(17).getInt64();
  j.owner_is_staff = q.getColumn(18).getInt() != 0;
  j.strategy_source_hash = q.getColumn(19).getString();
  j.request_id = q.getColumn(20).getString();
  j.runner = q.getColumn(21).getString();
  j.kind = q.getColumn(22).getInt() != 0 ? "sweep" : "backtest";
  return j;
}

// A row of job_events holds one event, or a run of up to kMaxEventsPerRow consecutive log lines
// of one source and level (a job logs hundreds of lines; one row each made their INSERTs the
// bulk of the cost of storing a job). A run's row has the first line's seq and time, event_count
// lines, `text` the lines' texts one after the other, and `payload` per line two varints: its
// time minus the row's (zigzag) and the length of its text.
// Never lower kMaxEventsPerRow: reads look for the row holding a seq that far back.
constexpr size_t kMaxEventsPerRow = 256;

bool Packable(const EventRecord& first, const EventRecord& next) {
  return first.kind == "log" && next.kind == "log" && first.payload.empty() &&
         next.payload.empty() && next.source == first.source && next.level == first.level;
}

void PackLines(std::span<const EventRecord> lines, std::string* text, std::string* packed) {
  text->clear();
  packed->clear();
  const int64_t t0 = lines.front().time_ms;
  for (const EventRecord& e : lines) {
    PutVarint(packed, ZigZag(e.time_ms - t0));
    PutVarint(packed, e.text.size());
    text->append(e.text);
  }
}

// One stored row as it was read.
struct EventRow {
  EventRecord first;  // seq, time, kind, source, level; text and payload as stored
  int64_t count = 1;
};

EventRow ReadRow(SQLite::Statement& q) {
  EventRow row;
  EventRecord& e = row.first;
  e.seq = q.getColumn(0).getInt64();
  e.time_ms = q.getColumn(1).getInt64();
  e.kind = q.getColumn(2).getString();
  e.source = q.getColumn(3).getString();
  e.level = q.getColumn(4).getString();
  e.text = q.getColumn(5).getString();
  const SQLite::Column payload = q.getColumn(6);
  if (!payload.isNull()) {
    e.payload.assign(static_cast<const char*>(payload.getBlob()), payload.getBytes());
  }
  row.count = q.getColumn(7).getInt64();
  return row;
}

// The row's events from seq `from_seq` on, appended to `out` until it holds `limit`.
absl::Status Unpack(absl::string_view job_id, EventRow row, int64_t from_seq, size_t limit,
                    std::vector<EventRecord>* out) {
  if (row.count == 1) {
    if (row.first.seq >= from_seq && out->size() < limit) out->push_back(std::move(row.first));
    return absl::OkStatus();
  }
  const EventRecord& r = row.first;
  auto malformed = [&] {
    return absl::DataLossError(absl::StrCat("stored events ", r.seq, "..", r.seq + row.count - 1,
                                            " of job ", job_id, " are malformed"));
  };
  if (r.kind != "log" || row.count < 1 || row.count > static_cast<int64_t>(kMaxEventsPerRow)) {
    return malformed();
  }
  absl::string_view packed = r.payload;
  size_t offset = 0;
  for (int64_t k = 0; k < row.count; ++k) {
    uint64_t zigzag = 0, size = 0;
    if (!GetVarint(&packed, &zigzag) || !GetVarint(&packed, &size) ||
        size > r.text.size() - offset) {
      return malformed();
    }
    if (r.seq + k >= from_seq && out->size() < limit) {
      EventRecord e;
      e.seq = r.seq + k;
      e.time_ms = r.time_ms + UnZigZag(zigzag);
      e.kind = r.kind;
      e.source = r.source;
      e.level = r.level;
      e.text = r.text.substr(offset, size);
      out->push_back(std::move(e));
    }
    offset += size;
  }
  if (!packed.empty() || offset != r.text.size()) return malformed();
  return absl::OkStatus();
}

}  // namespace

JobStore::JobStore(SQLite::Database& db) : db_(db) {}
JobStore::~JobStore() = default;

SQLite::Statement& JobStore::Prepared(const std::string& sql) {
  auto& statement = statements_[sql];
  if (statement == nullptr) {
    statement = std::make_unique<SQLite::Statement>(db_, sql);
  } else {
    statement->tryReset();
    statement->clearBindings();
  }
  return *statement;
}

absl::Status JobStore::AppendEventsLocked(absl::string_view id, int64_t last_seq,
                                          std::vector<EventRecord>& events) {
  if (events.empty()) return absl::OkStatus();
  SQLite::Statement& insert = Prepared(
      "INSERT INTO job_events(job_id, seq, time_ms, kind, source, level, text, payload, "
      "event_count) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const std::string job_id(id);
  // The bound strings outlive each step (bindNoCopy: SQLite reads them in place).
  insert.bindNoCopy(1, job_id);
  std::string packed_text, packed_lines;
  for (size_t i = 0; i < events.size();) {
    // A run of log lines of one source and level goes into one row.
    size_t end = i + 1;
    while (end < events.size() && end - i < kMaxEventsPerRow && Packable(events[i], events[end])) {
      ++end;
    }
    for (size_t k = i; k < end; ++k) events[k].seq = ++last_seq;
    const EventRecord& e = events[i];
    insert.bind(2, e.seq);
    insert.bind(3, e.time_ms);
    insert.bindNoCopy(4, e.kind);
    insert.bindNoCopy(5, e.source);
    insert.bindNoCopy(6, e.level);
    if (end - i == 1) {
      insert.bindNoCopy(7, e.text);
      if (e.payload.empty()) {
        insert.bind(8);
      } else {
        insert.bindNoCopy(8, e.payload.data(), static_cast<int>(e.payload.size()));
      }
    } else {
      PackLines(std::span<const EventRecord>(events).subspan(i, end - i), &packed_text,
                &packed_lines);
      insert.bindNoCopy(7, packed_text);
      insert.bindNoCopy(8, packed_lines.data(), static_cast<int>(packed_lines.size()));
    }
    insert.bind(9, static_cast<int64_t>(end - i));
    insert.exec();
    insert.reset();
    i = end;
  }
  insert.clearBindings();  // nothing keeps pointing into `events`
  SQLite::Statement& bump = Prepared("UPDATE jobs SET last_seq = ? WHERE id = ?");
  bump.bind(1, last_seq);
  bump.bindNoCopy(2, job_id);
  bump.exec();
  bump.reset();
  bump.clearBindings();
  return absl::OkStatus();
}

absl::Status JobStore::Insert(const JobRecord& job, std::vector<EventRecord>& events) {
  try {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement insert(db_,
                             "INSERT INTO jobs(id, owner_id, status, params_json, preset, "
                             "created_ms, strategy_source_hash, request_id) "
                             "VALUES(?, ?, 'queued', ?, ?, ?, ?, ?)");
    insert.bind(1, job.id);
    insert.bind(2, job.owner_id);
    insert.bind(3, job.params_json);
    insert.bind(4, job.preset);
    insert.bind(5, job.created_ms);
    insert.bind(6, job.strategy_source_hash);
    insert.bind(7, job.request_id);
    insert.exec();
    absl::Status s = AppendEventsLocked(job.id, 0, events);
    if (!s.ok()) return s;
    tx.commit();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("insert job ", job.id));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobRecord> JobStore::Get(absl::string_view id) {
  try {
    // Kept prepared: a job is read on every GetJob, which a waiting client calls in a loop.
    static const std::string sql = absl::StrCat(
        "SELECT ", kJobColumns, " FROM jobs j JOIN users u ON u.id = j.owner_id WHERE j.id = ?");
    StatementScope q(Prepared(sql));
    q->bind(1, std::string(id));
    if (!q->executeStep()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
    return ReadJob(*q);
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("read job ", id));
  }
}

absl::StatusOr<std::vector<JobRecord>> JobStore::List(const JobListQuery& query) {
  std::string sql = absl::StrCat("SELECT ", kJobColumns,
                                 " FROM jobs j JOIN users u ON u.id = j.owner_id WHERE 1 = 1");
  if (query.owner_id) sql += " AND j.owner_id = :owner";
  if (query.status) sql += " AND j.status = :status";
  if (query.after) {
    sql += " AND (j.created_ms < :after_ms OR (j.created_ms = :after_ms AND j.rowid < :after_row))";
  }
  sql += " ORDER BY j.created_ms DESC, j.rowid DESC LIMIT :limit";
  try {
    SQLite::Statement q(db_, sql);
    if (query.owner_id) q.bind(":owner", *query.owner_id);
    if (query.status) q.bind(":status", std::string(JobStatusName(*query.status)));
    if (query.after) {
      q.bind(":after_ms", query.after->created_ms);
      q.bind(":after_row", query.after->row);
    }
    q.bind(":limit", query.limit);
    std::vector<JobRecord> out;
    while (q.executeStep()) {
      ASSIGN_OR_RETURN(JobRecord job, ReadJob(q));
      out.push_back(std::move(job));
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "list jobs");
  }
}

absl::Status JobStore::Apply(absl::string_view id, const Update& update,
                             std::vector<EventRecord>& events) {
  const std::string job_id(id);
  try {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement& read = Prepared("SELECT status, last_seq FROM jobs WHERE id = ?");
    read.bind(1, job_id);
    if (!read.executeStep()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
    const std::string current = read.getColumn(0).getString();
    int64_t last_seq = read.getColumn(1).getInt64();
    read.reset();
    if (update.status && !update.from_statuses.empty()) {
      bool allowed = false;
      for (JobStatus from : update.from_statuses) allowed |= JobStatusName(from) == current;
      if (!allowed) {
        return absl::FailedPreconditionError(absl::StrCat(
            "job ", id, " is ", current, ", not ", JobStatusName(*update.status), "-able"));
      }
    }
    std::string sql = "UPDATE jobs SET id = id";
    if (update.status) sql += ", status = :status";
    if (update.error) sql += ", error = :error";
    if (update.pid) sql += ", pid = :pid";
    if (update.runner) sql += ", runner = :runner";
    if (update.started_ms) sql += ", started_ms = :started";
    if (update.finished_ms) sql += ", finished_ms = :finished";
    if (update.heartbeat_ms) sql += ", heartbeat_ms = :heartbeat";
    if (update.progress_fraction) sql += ", progress_fraction = :fraction";
    if (update.progress_stage) sql += ", progress_stage = :stage";
    if (update.bars_done) sql += ", bars_done = :done";
    if (update.bars_total) sql += ", bars_total = :total";
    sql += " WHERE id = :id";
    SQLite::Statement& write = Prepared(sql);
    if (update.status) write.bind(":status", std::string(JobStatusName(*update.status)));
    if (update.error) write.bind(":error", *update.error);
    if (update.pid) write.bind(":pid", *update.pid);
    if (update.runner) write.bind(":runner", *update.runner);
    if (update.started_ms) write.bind(":started", *update.started_ms);
    if (update.finished_ms) write.bind(":finished", *update.finished_ms);
    if (update.heartbeat_ms) write.bind(":heartbeat", *update.heartbeat_ms);
    if (update.progress_fraction) write.bind(":fraction", *update.progress_fraction);
    if (update.progress_stage) write.bind(":stage", *update.progress_stage);
    if (update.bars_done) write.bind(":done", *update.bars_done);
    if (update.bars_total) write.bind(":total", *update.bars_total);
    write.bind(":id", job_id);
    write.exec();
    absl::Status s = AppendEventsLocked(id, last_seq, events);
    if (!s.ok()) return s;
    tx.commit();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("update job ", id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EventRecord>> JobStore::Events(absl::string_view id, int64_t from_seq,
                                                         int limit) {
  try {
    // The row holding from_seq starts at most kMaxEventsPerRow - 1 seqs before it.
    SQLite::Statement q(db_,
                        "SELECT seq, time_ms, kind, source, level, text, payload, event_count "
                        "FROM job_events WHERE job_id = ?1 AND seq > ?2 - ?3 "
                        "AND seq + event_count > ?2 ORDER BY seq LIMIT ?4");
    q.bind(1, std::string(id));
    q.bind(2, from_seq);
    q.bind(3, static_cast<int64_t>(kMaxEventsPerRow));
    q.bind(4, limit);
    std::vector<EventRecord> out;
    const size_t wanted = limit > 0 ? static_cast<size_t>(limit) : 0;
    while (out.size() < wanted && q.executeStep()) {
      absl::Status s = Unpack(id, ReadRow(q), from_seq, wanted, &out);
      if (!s.ok()) return s;
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("read events of job ", id));
  }
}

absl::StatusOr<std::string> JobStore::LogTail(absl::string_view id, absl::string_view source,
                                              int lines) {
  try {
    StatementScope q(Prepared(
        "SELECT seq, time_ms, kind, source, level, text, payload, event_count "
        "FROM job_events WHERE job_id = ? AND kind = 'log' AND source = ? "
        "ORDER BY seq DESC LIMIT ?"));
    q->bind(1, std::string(id));
    q->bind(2, std::string(source));
    q->bind(3, lines);
    const size_t wanted = lines > 0 ? static_cast<size_t>(lines) : 0;
    std::vector<std::string> newest_first;
    while (newest_first.size() < wanted && q->executeStep()) {
      std::vector<EventRecord> row;
      absl::Status s = Unpack(id, ReadRow(*q), 0, kMaxEventsPerRow, &row);
      if (!s.ok()) return s;
      for (auto it = row.rbegin(); it != row.rend() && newest_first.size() < wanted; ++it) {
        newest_first.push_back(std::move(it->text));
      }
    }
    return absl::StrJoin(newest_first.rbegin(), newest_first.rend(), "\n");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("read log of job ", id));
  }
}

absl::StatusOr<std::vector<JobRecord>> JobStore::JobsWithStatus(JobStatus status) {
  try {
    SQLite::Statement q(db_, absl::StrCat("SELECT ", kJobColumns,
                                          " FROM jobs j JOIN users u ON u.id = j.owner_id "
                                          "WHERE j.status = ? ORDER BY j.created_ms, j.rowid"));
    q.bind(1, std::string(JobStatusName(status)));
    std::vector<JobRecord> out;
    while (q.executeStep()) {
      ASSIGN_OR_RETURN(JobRecord job, ReadJob(q));
      out.push_back(std::move(job));
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("list ", JobStatusName(status), " jobs"));
  }
}

absl::StatusOr<JobStore::OwnerQuota> JobStore::QuotaOf(int64_t owner_id) {
  try {
    // The count through the (status, created_ms) index: the active jobs are few, a user's ended
    // ones many. Named, since SQLite would otherwise take the owner's index (an equality on its
    // first column) and read every job the user ever ran, on every submission. No user row (a
    // job store used without users, in tests): no limits of their own.
    SQLite::Statement& q = Prepared(
        "SELECT (SELECT COUNT(*) FROM jobs INDEXED BY jobs_status "
        "WHERE status IN ('queued', 'running') AND owner_id = ?1),"
        " u.max_active_jobs, u.submissions_per_minute FROM (SELECT 1) LEFT JOIN users u ON u.id = ?1");
    q.bind(1, owner_id);
    q.executeStep();
    OwnerQuota quota;
    quota.active_jobs = q.getColumn(0).getInt64();
    if (!q.getColumn(1).isNull()) quota.limits.max_active_jobs = q.getColumn(1).getInt();
    if (!q.getColumn(2).isNull()) quota.limits.submissions_per_minute = q.getColumn(2).getInt();
    q.reset();  // no read transaction left open on the kept statement
    return quota;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "read a user's active jobs and limits");
  }
}

}  // namespace backtest::db

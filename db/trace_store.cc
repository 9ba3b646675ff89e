#include "db/trace_store.h"

#include <algorithm>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"
#include "db/trace_chunk.h"

namespace backtest::db {
namespace {

// Chunk listings name the chunk and its size only: SQLite loads every result column at each step,
// so the blob is fetched by rowid (chunk_data_) only for the chunks that are decoded.
constexpr const char* kChunkColumns = "SELECT rowid, row_count FROM trace_chunks ";

bool Matches(const TraceRowView& row, const TraceFilter& f) {
  return (!f.bar_index || row.bar_index == *f.bar_index) && (!f.ts || row.ts == *f.ts) &&
         (f.section.empty() || row.section == f.section) &&
         (f.kind.empty() || row.kind == f.kind) && (f.symbol.empty() || row.symbol == f.symbol);
}

bool FiltersRows(const TraceFilter& f) {
  return f.bar_index || f.ts || !f.section.empty() || !f.kind.empty() || !f.symbol.empty();
}

absl::Status Corrupt(absl::string_view job_id) {
  return absl::DataLossError(absl::StrCat("trace of job ", job_id, " has a malformed chunk"));
}

}  // namespace

TraceStore::TraceStore(Database* db) : db_(db) {}
TraceStore::~TraceStore() = default;

absl::StatusOr<std::unique_ptr<TraceStore>> TraceStore::Create(Database* db) {
  std::unique_ptr<TraceStore> store(new TraceStore(db));
  SQLite::Database& conn = db->connection();
  auto prepare = [&](const std::string& sql) {
    return std::make_unique<SQLite::Statement>(conn, sql);
  };
  try {
    store->insert_chunk_ = prepare(
        "INSERT INTO trace_chunks(job_id, first_seq, last_seq, row_count, min_bar, max_bar, "
        "min_ts, max_ts, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    store->chunk_data_ = prepare("SELECT data FROM trace_chunks WHERE rowid = ?1");
    store->last_seq_ = prepare(
        "SELECT last_seq FROM trace_chunks WHERE job_id = ?1 ORDER BY first_seq DESC LIMIT 1");
    store->chunks_all_ =
        prepare(absl::StrCat(kChunkColumns, "WHERE job_id = ?1 ORDER BY first_seq"));
    // The covering (job_id, max_bar, min_bar) index finds the chunks holding a bar without
    // touching the others' blobs; INDEXED BY because, without statistics, the planner would
    // rather walk the (job_id, first_seq) index in ORDER BY order.
    store->chunks_of_bar_ = prepare(absl::StrCat(
        kChunkColumns,
        "INDEXED BY trace_chunks_bar WHERE job_id = ?1 AND max_bar >= ?2 AND min_bar <= ?2 "
        "ORDER BY first_seq"));
    store->chunks_at_ts_ = prepare(absl::StrCat(
        kChunkColumns,
        "INDEXED BY trace_chunks_ts WHERE job_id = ?1 AND max_ts >= ?2 AND min_ts <= ?2 "
        "ORDER BY first_seq"));
    store->chunks_newest_first_ =
        prepare(absl::StrCat(kChunkColumns, "WHERE job_id = ?1 ORDER BY first_seq DESC"));
    store->count_rows_ =
        prepare("SELECT coalesce(sum(row_count), 0) FROM trace_chunks WHERE job_id = ?1");
    store->save_summary_ = prepare(
        "INSERT INTO trace_summaries(job_id, enabled, sampling, row_count, truncated, updated_ms) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(job_id) DO UPDATE SET "
        "enabled = excluded.enabled, sampling = excluded.sampling, "
        "row_count = excluded.row_count, truncated = excluded.truncated, "
        "updated_ms = excluded.updated_ms");
    store->get_summary_ = prepare(
        "SELECT enabled, sampling, row_count, truncated FROM trace_summaries WHERE job_id = ?1");
    store->job_info_ =
        prepare("SELECT id, owner_id, status, params_json, bars_total FROM jobs WHERE id = ?1");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot prepare trace statements");
  }
  return store;
}

absl::Status TraceStore::AppendRows(absl::string_view job_id,
                                    std::span<const TraceRowRecord> rows) {
  if (rows.empty()) return absl::OkStatus();
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].seq <= rows[i - 1].seq) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trace rows: seq must increase, got ", rows[i].seq, " after ", rows[i - 1].seq));
    }
  }
  const std::string job(job_id);
  try {
    SQLite::Transaction tx(db_->connection(), SQLite::TransactionBehavior::IMMEDIATE);
    {
      StatementScope last(*last_seq_);
      last->bind(1, job);
      if (last->executeStep() && rows.front().seq <= last->getColumn(0).getInt64()) {
        return absl::AlreadyExistsError(
            absl::StrCat("trace rows: seq ", rows.front().seq, " is already stored (last seq ",
                         last->getColumn(0).getInt64(), ")"));
      }
    }
    for (size_t begin = 0; begin < rows.size(); begin += kMaxChunkRows) {
      auto chunk = rows.subspan(begin, std::min(kMaxChunkRows, rows.size() - begin));
      int64_t min_bar = chunk.front().bar_index, max_bar = min_bar;
      int64_t min_ts = chunk.front().ts, max_ts = min_ts;
      for (const TraceRowRecord& r : chunk) {
        min_bar = std::min(min_bar, r.bar_index);
        max_bar = std::max(max_bar, r.bar_index);
        min_ts = std::min(min_ts, r.ts);
        max_ts = std::max(max_ts, r.ts);
      }
      const std::string data = EncodeTraceChunk(chunk);
      StatementScope insert(*insert_chunk_);
      insert->bindNoCopy(1, job);
      insert->bind(2, static_cast<int64_t>(chunk.front().seq));
      insert->bind(3, static_cast<int64_t>(chunk.back().seq));
      insert->bind(4, static_cast<int64_t>(chunk.size()));
      insert->bind(5, static_cast<int64_t>(min_bar));
      insert->bind(6, static_cast<int64_t>(max_bar));
      insert->bind(7, static_cast<int64_t>(min_ts));
      insert->bind(8, static_cast<int64_t>(max_ts));
      insert->bindNoCopy(9, data.data(), static_cast<int>(data.size()));
      insert->exec();
    }
    tx.commit();
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("cannot append ", rows.size(), " trace rows"));
  }
}

template <typename Fn>
void TraceStore::ForEachChunk(SQLite::Statement& stmt, Fn&& fn) {
  while (stmt.executeStep()) {
    const int64_t rowid = stmt.getColumn(0).getInt64();
    // The blob stays valid until this scope resets the statement, after `fn` returns.
    StatementScope data(*chunk_data_);
    auto blob = [&]() -> absl::string_view {
      data->bind(1, static_cast<int64_t>(rowid));
      if (!data->executeStep()) return absl::string_view();
      SQLite::Column column = data->getColumn(0);
      const void* bytes = column.getBlob();  // before getBytes(), as SQLite asks
      return absl::string_view(static_cast<const char*>(bytes),
                               static_cast<size_t>(column.getBytes()));
    };
    if (!fn(stmt.getColumn(1).getInt64(), blob)) break;
  }
}

absl::StatusOr<TracePage> TraceStore::Query(absl::string_view job_id, const TraceFilter& filter,
                                            int64_t limit, int64_t offset) {
  if (limit < 1) {
    return absl::InvalidArgumentError(absl::StrCat("limit: must be >= 1, got ", limit));
  }
  if (offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("offset: must be >= 0, got ", offset));
  }
  const bool filtered = FiltersRows(filter);
  SQLite::Statement& source = filter.bar_index ? *chunks_of_bar_
                              : filter.ts      ? *chunks_at_ts_
                                               : *chunks_all_;
  try {
    TracePage page;
    bool corrupt = false;
    // One statement: one consistent snapshot while the job appends.
    StatementScope stmt(source);
    BindText(*stmt, 1, job_id);
    if (filter.bar_index) stmt->bind(2, static_cast<int64_t>(*filter.bar_index));
    else if (filter.ts) stmt->bind(2, static_cast<int64_t>(*filter.ts));
    ForEachChunk(*stmt, [&](int64_t row_count, auto blob) {
      // Unfiltered: whole chunks before the page (and after it) are counted, not read.
      const bool before = !filtered && page.total + row_count <= offset;
      const bool after = !filtered && static_cast<int64_t>(page.rows.size()) >= limit;
      if (before || after) {
        page.total += row_count;
        return true;
      }
      TraceChunkReader reader(blob());
      TraceRowView row;
      while (reader.Next(&row)) {
        if (filtered && !Matches(row, filter)) continue;
        if (page.total >= offset && static_cast<int64_t>(page.rows.size()) < limit) {
          page.rows.push_back(row.ToRecord());
        }
        ++page.total;
      }
      corrupt = corrupt || !reader.ok();
      return true;
    });
    if (corrupt) return Corrupt(job_id);
    return page;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot query trace");
  }
}

absl::StatusOr<std::vector<TraceRowRecord>> TraceStore::RowsWhere(absl::string_view job_id,
                                                                  const TraceFilter& filter) {
  try {
    std::vector<TraceRowRecord> rows;
    bool corrupt = false;
    StatementScope stmt(filter.bar_index ? *chunks_of_bar_ : *chunks_at_ts_);
    BindText(*stmt, 1, job_id);
    stmt->bind(2, static_cast<int64_t>(filter.bar_index ? *filter.bar_index : *filter.ts));
    ForEachChunk(*stmt, [&](int64_t, auto blob) {
      TraceChunkReader reader(blob());
      TraceRowView row;
      while (reader.Next(&row)) {
        if (Matches(row, filter)) rows.push_back(row.ToRecord());
      }
      corrupt = corrupt || !reader.ok();
      return true;
    });
    if (corrupt) return Corrupt(job_id);
    return rows;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read trace rows");
  }
}

absl::StatusOr<std::vector<TraceRowRecord>> TraceStore::RowsOfBar(absl::string_view job_id,
                                                                  absl::string_view symbol,
                                                                  int64_t bar_index) {
  TraceFilter filter;
  filter.bar_index = bar_index;
  filter.symbol = std::string(symbol);
  return RowsWhere(job_id, filter);
}

absl::StatusOr<std::vector<TraceRowRecord>> TraceStore::RowsAtTime(absl::string_view job_id,
                                                                   absl::string_view symbol,
                                                                   int64_t ts) {
  TraceFilter filter;
  filter.ts = ts;
  filter.symbol = std::string(symbol);
  return RowsWhere(job_id, filter);
}

absl::StatusOr<std::string> TraceStore::FirstSymbol(absl::string_view job_id) {
  try {
    std::string symbol;
    StatementScope stmt(*chunks_all_);
    BindText(*stmt, 1, job_id);
    ForEachChunk(*stmt, [&](int64_t, auto blob) {
      TraceChunkReader reader(blob());
      TraceRowView row;
      if (reader.Next(&row)) symbol = std::string(row.symbol);
      return symbol.empty();
    });
    return symbol;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read trace");
  }
}

absl::StatusOr<std::optional<int64_t>> TraceStore::LastTracedBar(absl::string_view job_id,
                                                                 absl::string_view symbol) {
  try {
    std::optional<int64_t> last;
    StatementScope stmt(*chunks_newest_first_);
    BindText(*stmt, 1, job_id);
    // A symbol's bars only grow, so the newest chunk that has the symbol has its last bar.
    ForEachChunk(*stmt, [&](int64_t, auto blob) {
      TraceChunkReader reader(blob());
      TraceRowView row;
      while (reader.Next(&row)) {
        if (row.symbol == symbol) last = std::max(last.value_or(row.bar_index), row.bar_index);
      }
      return !last.has_value();
    });
    return last;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read trace");
  }
}

absl::StatusOr<int64_t> TraceStore::CountRows(absl::string_view job_id) {
  try {
    StatementScope stmt(*count_rows_);
    BindText(*stmt, 1, job_id);
    stmt->executeStep();
    return stmt->getColumn(0).getInt64();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot count trace rows");
  }
}

absl::Status TraceStore::SaveSummary(absl::string_view job_id, const TraceSummary& summary) {
  try {
    StatementScope stmt(*save_summary_);
    BindText(*stmt, 1, job_id);
    stmt->bind(2, summary.enabled ? 1 : 0);
    stmt->bind(3, static_cast<int64_t>(summary.sampling));
    stmt->bind(4, static_cast<int64_t>(summary.row_count));
    stmt->bind(5, summary.truncated ? 1 : 0);
    stmt->bind(6, static_cast<int64_t>(NowMs()));
    stmt->exec();
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot save trace summary");
  }
}

absl::StatusOr<std::optional<TraceSummary>> TraceStore::GetSummary(absl::string_view job_id) {
  try {
    StatementScope stmt(*get_summary_);
    BindText(*stmt, 1, job_id);
    if (!stmt->executeStep()) return std::optional<TraceSummary>();
    TraceSummary summary;
    summary.enabled = stmt->getColumn(0).getInt() != 0;
    summary.sampling = stmt->getColumn(1).getInt64();
    summary.row_count = stmt->getColumn(2).getInt64();
    summary.truncated = stmt->getColumn(3).getInt() != 0;
    return std::optional<TraceSummary>(summary);
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read trace summary");
  }
}

absl::StatusOr<JobInfo> TraceStore::GetJobInfo(absl::string_view job_id) {
  try {
    StatementScope stmt(*job_info_);
    BindText(*stmt, 1, job_id);
    if (!stmt->executeStep()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
    }
    JobInfo info;
    info.job_id = stmt->getColumn(0).getString();
    info.owner_id = stmt->getColumn(1).getInt64();
    const std::string status = stmt->getColumn(2).getString();
    std::optional<JobStatus> parsed = ParseJobStatus(status);
    if (!parsed) {
      return absl::DataLossError(
          absl::StrCat("job ", info.job_id, " has an unknown status \"", status, "\""));
    }
    info.status = *parsed;
    info.params_json = stmt->getColumn(3).getString();
    info.bars_total = stmt->getColumn(4).getInt64();
    return info;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot look up job");
  }
}

}  // namespace backtest::db

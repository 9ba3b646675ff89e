#include "db/dataset_store.h"

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"

namespace backtest::db {
namespace {

// job_datasets.position of a pin (a dataset offered to a running job's runner).
constexpr int kPinPosition = -1;

SQLite::Statement& Prepared(std::unique_ptr<SQLite::Statement>& stmt, SQLite::Database& db,
                            const char* sql) {
  if (stmt == nullptr) stmt = std::make_unique<SQLite::Statement>(db, sql);
  return *stmt;
}

}  // namespace

DatasetStore::DatasetStore(SQLite::Database& db) : db_(db) {}
DatasetStore::~DatasetStore() = default;

absl::StatusOr<std::vector<DatasetKey>> DatasetStore::Candidates(absl::string_view source,
                                                                 absl::string_view symbol,
                                                                 absl::string_view timeframe,
                                                                 int limit) {
  try {
    StatementScope q(Prepared(candidates_, db_,
                              "SELECT id, hash FROM datasets WHERE source = ? AND symbol = ? AND "
                              "timeframe = ? ORDER BY used_ms DESC, id DESC LIMIT ?"));
    q->bind(1, std::string(source));
    q->bind(2, std::string(symbol));
    q->bind(3, std::string(timeframe));
    q->bind(4, limit);
    std::vector<DatasetKey> out;
    while (q->executeStep()) {
      out.push_back({q->getColumn(0).getInt64(), q->getColumn(1).getString()});
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("datasets of ", symbol));
  }
}

absl::Status DatasetStore::Pin(absl::string_view job_id, std::span<const int64_t> ids) {
  if (ids.empty()) return absl::OkStatus();
  try {
    SQLite::Transaction tx(db_);
    for (int64_t id : ids) {
      StatementScope q(Prepared(
          pin_, db_, "INSERT INTO job_datasets(job_id, position, dataset_id) VALUES(?, ?, ?)"));
      q->bind(1, std::string(job_id));
      q->bind(2, kPinPosition);
      q->bind(3, id);
      q->exec();
    }
    tx.commit();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("pin datasets for job ", job_id));
  }
  return absl::OkStatus();
}

absl::Status DatasetStore::Unpin(absl::string_view job_id) {
  try {
    StatementScope q(
        Prepared(unpin_, db_, "DELETE FROM job_datasets WHERE job_id = ? AND position = ?"));
    q->bind(1, std::string(job_id));
    q->bind(2, kPinPosition);
    q->exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("unpin datasets of job ", job_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> DatasetStore::Save(const DatasetRecord& r) {
  try {
    {
      StatementScope q(Prepared(
          insert_, db_,
          "INSERT INTO datasets(hash, source, symbol, timeframe, first_time, last_time, bars, "
          "format, data, created_ms, used_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT(hash) DO UPDATE SET used_ms = excluded.used_ms"));
      q->bind(1, r.hash);
      q->bind(2, r.source);
      q->bind(3, r.symbol);
      q->bind(4, r.timeframe);
      q->bind(5, r.first_time);
      q->bind(6, r.last_time);
      q->bind(7, r.bars);
      q->bind(8, r.format);
      // Hundreds of KB: read in place (the record outlives the step).
      q->bindNoCopy(9, r.data.data(), static_cast<int>(r.data.size()));
      q->bind(10, r.created_ms);
      q->bind(11, r.created_ms);
      q->exec();
    }
    StatementScope find(Prepared(find_, db_, "SELECT id FROM datasets WHERE hash = ?"));
    find->bind(1, r.hash);
    if (!find->executeStep()) {
      return absl::InternalError(absl::StrCat("dataset ", r.hash, " not found once stored"));
    }
    return find->getColumn(0).getInt64();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("save dataset of ", r.symbol));
  }
}

absl::StatusOr<std::vector<DatasetKey>> DatasetStore::KeysOfResult(absl::string_view job_id) {
  try {
    SQLite::Statement q(db_,
                        "SELECT d.id, d.hash FROM job_datasets j JOIN datasets d ON "
                        "d.id = j.dataset_id WHERE j.job_id = ? AND j.position >= 0 "
                        "ORDER BY j.position");
    q.bind(1, std::string(job_id));
    std::vector<DatasetKey> out;
    while (q.executeStep()) out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString()});
    return out;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("datasets of job ", job_id));
  }
}

absl::StatusOr<DatasetRecord> DatasetStore::Load(int64_t id) {
  try {
    SQLite::Statement q(db_,
                        "SELECT id, hash, source, symbol, timeframe, first_time, last_time, bars, "
                        "format, data, created_ms FROM datasets WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return absl::NotFoundError(absl::StrCat("no dataset ", id));
    DatasetRecord r;
    r.id = q.getColumn(0).getInt64();
    r.hash = q.getColumn(1).getString();
    r.source = q.getColumn(2).getString();
    r.symbol = q.getColumn(3).getString();
    r.timeframe = q.getColumn(4).getString();
    r.first_time = q.getColumn(5).getInt64();
    r.last_time = q.getColumn(6).getInt64();
    r.bars = q.getColumn(7).getInt64();
    r.format = q.getColumn(8).getInt();
    const SQLite::Column data = q.getColumn(9);
    r.data.assign(static_cast<const char*>(data.getBlob()), data.getBytes());
    r.created_ms = q.getColumn(10).getInt64();
    return r;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("load dataset ", id));
  }
}

absl::StatusOr<std::vector<DatasetRecord>> DatasetStore::OfResult(absl::string_view job_id) {
  try {
    SQLite::Statement q(db_,
                        "SELECT d.id, d.hash, d.source, d.symbol, d.timeframe, d.first_time, "
                        "d.last_time, d.bars, d.format, d.data, d.created_ms FROM job_datasets j "
                        "JOIN datasets d ON d.id = j.dataset_id WHERE j.job_id = ? AND "
                        "j.position >= 0 ORDER BY j.position");
    q.bind(1, std::string(job_id));
    std::vector<DatasetRecord> out;
    while (q.executeStep()) {
      DatasetRecord& r = out.emplace_back();
      r.id = q.getColumn(0).getInt64();
      r.hash = q.getColumn(1).getString();
      r.source = q.getColumn(2).getString();
      r.symbol = q.getColumn(3).getString();
      r.timeframe = q.getColumn(4).getString();
      r.first_time = q.getColumn(5).getInt64();
      r.last_time = q.getColumn(6).getInt64();
      r.bars = q.getColumn(7).getInt64();
      r.format = q.getColumn(8).getInt();
      const SQLite::Column data = q.getColumn(9);
      r.data.assign(static_cast<const char*>(data.getBlob()), data.getBytes());
      r.created_ms = q.getColumn(10).getInt64();
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("datasets of job ", job_id));
  }
}

}  // namespace backtest::db

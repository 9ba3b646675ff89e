#include "db/result_store.h"

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/str_cat.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"
#include "db/write_scope.h"

namespace backtest::db {

ResultStore::ResultStore(SQLite::Database& db) : db_(db) {}
ResultStore::~ResultStore() = default;

absl::Status ResultStore::Save(const ResultRecord& result) {
  try {
    if (save_ == nullptr) {
      save_ = std::make_unique<SQLite::Statement>(
          db_,
          "INSERT OR REPLACE INTO results(job_id, format, digest, data, created_ms) "
          "VALUES(?, ?, ?, ?, ?)");
    }
    StatementScope q(*save_);
    q->bind(1, result.job_id);
    q->bind(2, result.format);
    q->bind(3, result.digest);
    // Hundreds of KB: read in place (the record outlives the step; the scope clears bindings).
    q->bindNoCopy(4, result.data.data(), static_cast<int>(result.data.size()));
    q->bind(5, result.created_ms);
    q->exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("save result of job ", result.job_id));
  }
  return absl::OkStatus();
}

absl::Status ResultStore::SetDigest(absl::string_view job_id, absl::string_view digest) {
  try {
    if (set_digest_ == nullptr) {
      set_digest_ = std::make_unique<SQLite::Statement>(
          db_, "UPDATE results SET digest = ? WHERE job_id = ?");
    }
    StatementScope q(*set_digest_);
    BindText(*q, 1, digest);
    BindText(*q, 2, job_id);
    if (q->exec() == 0) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " has no result"));
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("set the digest of job ", job_id));
  }
  return absl::OkStatus();
}

absl::Status ResultStore::Save(const ResultRecord& result, std::span<const int64_t> datasets) {
  try {
    WriteScope tx(db_);
    if (absl::Status s = Save(result); !s.ok()) return s;
    if (refer_ == nullptr) {
      refer_ = std::make_unique<SQLite::Statement>(
          db_, "INSERT INTO job_datasets(job_id, position, dataset_id) VALUES(?, ?, ?)");
      unpin_ = std::make_unique<SQLite::Statement>(
          db_, "DELETE FROM job_datasets WHERE job_id = ? AND position < 0");
      touch_ = std::make_unique<SQLite::Statement>(
          db_, "UPDATE datasets SET used_ms = ? WHERE id = ?");
    }
    for (size_t i = 0; i < datasets.size(); ++i) {
      StatementScope q(*refer_);
      q->bind(1, result.job_id);
      q->bind(2, static_cast<int64_t>(i));
      q->bind(3, datasets[i]);
      q->exec();
      StatementScope t(*touch_);
      t->bind(1, result.created_ms);
      t->bind(2, datasets[i]);
      t->exec();
    }
    {
      // After the references: a pinned dataset the result uses never has no reference.
      StatementScope q(*unpin_);
      q->bind(1, result.job_id);
      q->exec();
    }
    tx.Commit();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("save result of job ", result.job_id));
  }
  return absl::OkStatus();
}

absl::Status ResultStore::Read(
    absl::string_view job_id,
    const std::function<absl::Status(const ResultRecord& record, absl::string_view data)>& read) {
  try {
    SQLite::Statement q(db_,
                        "SELECT format, digest, data, created_ms FROM results WHERE job_id = ?");
    q.bind(1, std::string(job_id));
    if (!q.executeStep()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " has no result"));
    }
    ResultRecord r;
    r.job_id = std::string(job_id);
    r.format = q.getColumn(0).getInt();
    r.digest = q.getColumn(1).getString();
    r.created_ms = q.getColumn(3).getInt64();
    const SQLite::Column data = q.getColumn(2);
    return read(r, absl::string_view(static_cast<const char*>(data.getBlob()),
                                     static_cast<size_t>(data.getBytes())));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("load result of job ", job_id));
  }
}

absl::StatusOr<ResultRecord> ResultStore::Load(absl::string_view job_id) {
  ResultRecord out;
  absl::Status s = Read(job_id, [&](const ResultRecord& record, absl::string_view data) {
    out = record;
    out.data.assign(data.data(), data.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace backtest::db

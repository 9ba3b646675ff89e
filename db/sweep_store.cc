#include "db/sweep_store.h"

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"

namespace backtest::db {
namespace {

void BindBlob(SQLite::Statement& stmt, int index, absl::string_view bytes) {
  stmt.bind(index, bytes.data(), static_cast<int>(bytes.size()));  // copied (SQLITE_TRANSIENT)
}

std::string BlobOf(const SQLite::Column& c) {
  return std::string(static_cast<const char*>(c.getBlob()), static_cast<size_t>(c.getBytes()));
}

}  // namespace

absl::Status SweepStore::Insert(const SweepRecord& s) {
  try {
    SQLite::Statement stmt(db_, "INSERT INTO sweeps(job_id, spec, request, objective, maximize, "
                                "total, grid_size) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    BindText(stmt, 1, s.job_id);
    BindBlob(stmt, 2, s.spec);
    BindText(stmt, 3, s.request);
    BindText(stmt, 4, s.objective);
    stmt.bind(5, s.maximize ? 1 : 0);
    stmt.bind(6, s.total);
    stmt.bind(7, s.grid_size);
    stmt.exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot store the sweep");
  }
  return absl::OkStatus();
}

absl::Status SweepStore::Remove(absl::string_view job_id) {
  try {
    SQLite::Statement stmt(db_, "DELETE FROM sweeps WHERE job_id = ?1");
    BindText(stmt, 1, job_id);
    stmt.exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot remove the sweep");
  }
  return absl::OkStatus();
}

absl::StatusOr<SweepRecord> SweepStore::Get(absl::string_view job_id) {
  try {
    SQLite::Statement stmt(db_, "SELECT spec, request, objective, maximize, total, grid_size, "
                                "walk_forward FROM sweeps WHERE job_id = ?1");
    BindText(stmt, 1, job_id);
    if (!stmt.executeStep()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " is not a sweep"));
    }
    return SweepRecord{.job_id = std::string(job_id),
                       .spec = BlobOf(stmt.getColumn(0)),
                       .request = stmt.getColumn(1).getString(),
                       .objective = stmt.getColumn(2).getString(),
                       .maximize = stmt.getColumn(3).getInt() != 0,
                       .total = stmt.getColumn(4).getInt64(),
                       .grid_size = stmt.getColumn(5).getInt64(),
                       .walk_forward = BlobOf(stmt.getColumn(6))};
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read the sweep");
  }
}

absl::Status SweepStore::SaveWalkForward(absl::string_view job_id, absl::string_view data) {
  try {
    SQLite::Statement stmt(db_, "UPDATE sweeps SET walk_forward = ?2 WHERE job_id = ?1");
    BindText(stmt, 1, job_id);
    BindBlob(stmt, 2, data);
    if (stmt.exec() != 1) return absl::NotFoundError(absl::StrCat("job ", job_id, " is not a sweep"));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot store the walk-forward");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SweepStore::IsSweep(absl::string_view job_id) {
  try {
    SQLite::Statement stmt(db_, "SELECT 1 FROM sweeps WHERE job_id = ?1");
    BindText(stmt, 1, job_id);
    return stmt.executeStep();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read the sweep");
  }
}

absl::Status SweepStore::AppendChunk(absl::string_view job_id, int64_t rows,
                                     absl::string_view data) {
  try {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement stmt(
        db_, "INSERT INTO sweep_row_chunks(job_id, seq, rows, data) VALUES(?1, "
             "(SELECT COALESCE(MAX(seq), 0) + 1 FROM sweep_row_chunks WHERE job_id = ?1), ?2, ?3)");
    BindText(stmt, 1, job_id);
    stmt.bind(2, rows);
    BindBlob(stmt, 3, data);
    stmt.exec();
    tx.commit();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot store sweep rows");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SweepStore::Chunks(absl::string_view job_id) {
  try {
    SQLite::Statement stmt(db_, "SELECT data FROM sweep_row_chunks WHERE job_id = ?1 ORDER BY seq");
    BindText(stmt, 1, job_id);
    std::vector<std::string> chunks;
    while (stmt.executeStep()) chunks.push_back(BlobOf(stmt.getColumn(0)));
    return chunks;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read sweep rows");
  }
}

absl::StatusOr<int64_t> SweepStore::RowCount(absl::string_view job_id) {
  try {
    SQLite::Statement stmt(db_, "SELECT COALESCE(SUM(rows), 0) FROM sweep_row_chunks "
                                "WHERE job_id = ?1");
    BindText(stmt, 1, job_id);
    stmt.executeStep();
    return stmt.getColumn(0).getInt64();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read sweep rows");
  }
}

absl::Status SweepStore::LinkRun(absl::string_view sweep_id, int64_t row,
                                 absl::string_view job_id) {
  try {
    SQLite::Statement stmt(db_, "INSERT INTO sweep_row_jobs(sweep_id, row, job_id) "
                                "VALUES(?1, ?2, ?3)");
    BindText(stmt, 1, sweep_id);
    stmt.bind(2, row);
    BindText(stmt, 3, job_id);
    stmt.exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot link the run to the sweep");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> SweepStore::RunOfRow(absl::string_view sweep_id,
                                                                 int64_t row) {
  try {
    SQLite::Statement stmt(db_, "SELECT job_id FROM sweep_row_jobs WHERE sweep_id = ?1 AND row = ?2");
    BindText(stmt, 1, sweep_id);
    stmt.bind(2, row);
    if (!stmt.executeStep()) return std::optional<std::string>();
    return std::optional<std::string>(stmt.getColumn(0).getString());
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read the sweep's runs");
  }
}

absl::StatusOr<std::map<int64_t, std::string>> SweepStore::Runs(absl::string_view sweep_id) {
  try {
    SQLite::Statement stmt(db_, "SELECT row, job_id FROM sweep_row_jobs WHERE sweep_id = ?1");
    BindText(stmt, 1, sweep_id);
    std::map<int64_t, std::string> runs;
    while (stmt.executeStep()) runs[stmt.getColumn(0).getInt64()] = stmt.getColumn(1).getString();
    return runs;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read the sweep's runs");
  }
}

}  // namespace backtest::db

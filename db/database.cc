#include "db/database.h"

#include <filesystem>
#include <system_error>
#include <thread>

#include <sqlite3.h>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "db/migrations.h"
#include "db/job_store.h"
#include "db/sqlite_status.h"
#include "db/write_scope.h"

namespace backtest::db {

Database::Database(std::string path, std::unique_ptr<SQLite::Database> db)
    : path_(std::move(path)), db_(std::move(db)) {}

Database::~Database() = default;

JobStore& Database::jobs() {
  if (jobs_ == nullptr) jobs_ = std::make_unique<JobStore>(*db_);
  return *jobs_;
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         const DatabaseOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create directory ", parent.string(), ": ", ec.message()));
    }
  }
  std::unique_ptr<SQLite::Database> conn;
  try {
    conn = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX);
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("cannot open database ", path));
  }
  std::unique_ptr<Database> db(new Database(path, std::move(conn)));
  if (absl::Status s = db->Configure(options); !s.ok()) return s;
  if (absl::Status s = db->Migrate(options.migrate); !s.ok()) return s;
  return db;
}

absl::Status Database::Configure(const DatabaseOptions& options) {
  try {
    busy_timeout_ms_ = options.busy_timeout_ms;
    sqlite3_busy_handler(db_->getHandle(), &Database::OnBusy, this);
    // Pages freed by deletions (retention) can be given back to the file system step by step
    // (PRAGMA incremental_vacuum). SQLite takes this only before the first table is created: a
    // database created by an older backtestd keeps auto_vacuum off (docs/retention.md).
    db_->exec("PRAGMA auto_vacuum=INCREMENTAL");
    // WAL: readers never block the writer, and a killed process leaves a consistent database.
    std::string mode = db_->execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal") {
      return absl::UnavailableError(
          absl::StrCat("cannot use database ", path_, ": WAL mode refused (", mode, ")"));
    }
    // NORMAL is durable in WAL mode against process crashes; only power loss can lose the last
    // transactions, never corrupt the file.
    db_->exec("PRAGMA synchronous=NORMAL");
    db_->exec("PRAGMA foreign_keys=ON");
    db_->exec("PRAGMA temp_store=MEMORY");
    db_->exec(absl::StrCat("PRAGMA wal_autocheckpoint=", options.wal_autocheckpoint_pages));
    // A checkpoint that resets the WAL truncates it to this size: after a burst of writes (a big
    // trace, a retention pass) the WAL file does not stay at its largest.
    db_->exec("PRAGMA journal_size_limit=67108864");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("cannot use database ", path_));
  }
  return absl::OkStatus();
}

void Database::OnWalCommit(std::function<void(int pages)> hook) {
  wal_hook_ = std::move(hook);
  sqlite3_wal_hook(
      db_->getHandle(),
      [](void* self, sqlite3*, const char*, int pages) {
        static_cast<Database*>(self)->wal_hook_(pages);
        return SQLITE_OK;
      },
      this);
}

int Database::OnBusy(void* self, int tries) {
  auto* db = static_cast<Database*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (tries == 0) db->busy_since_ = now;
  if (now - db->busy_since_ >= std::chrono::milliseconds(db->busy_timeout_ms_)) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(tries < 50 ? 100 : 1000));
  return 1;
}

absl::Status Database::Migrate(bool apply) {
  const int latest = LatestSchemaVersion();
  try {
    schema_version_ = db_->execAndGet("PRAGMA user_version").getInt();
    if (schema_version_ > latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database ", path_, " has schema version ", schema_version_,
          ", newer than this backtestd understands (", latest, "); use a newer backtestd"));
    }
    if (schema_version_ == latest) return absl::OkStatus();
    if (!apply) {
      return absl::FailedPreconditionError(absl::StrCat("database ", path_, " has schema version ",
                                                        schema_version_, ", expected ", latest));
    }
    for (const Migration& m : Migrations()) {
      if (m.version <= schema_version_) continue;
      SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      // Another process may have migrated meanwhile; re-read inside the write lock.
      int current = db_->execAndGet("PRAGMA user_version").getInt();
      if (current >= m.version) {
        schema_version_ = current;
        continue;
      }
      db_->exec(m.sql);
      db_->exec(absl::StrCat("PRAGMA user_version=", m.version));
      tx.commit();
      schema_version_ = m.version;
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("cannot migrate database ", path_));
  }
  return absl::OkStatus();
}

absl::Status Database::InOneCommit(const std::function<absl::Status()>& writes) {
  try {
    WriteScope tx(*db_);
    if (absl::Status s = writes(); !s.ok()) return s;
    tx.Commit();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("commit to ", path_));
  }
  return absl::OkStatus();
}

absl::Status Database::IntegrityCheck() {
  try {
    std::string answer = db_->execAndGet("PRAGMA integrity_check").getString();
    if (answer != "ok") {
      return absl::InternalError(absl::StrCat("integrity_check of ", path_, ": ", answer));
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("integrity_check of ", path_));
  }
  return absl::OkStatus();
}

absl::Status Database::ProbeWrite(int64_t now_ms) {
  try {
    SQLite::Statement write(*db_,
                            "INSERT INTO server_probe(id, at_ms) VALUES(1, ?1) "
                            "ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms");
    write.bind(1, static_cast<int64_t>(now_ms));
    write.exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("write to ", path_));
  }
  return absl::OkStatus();
}

absl::Status Database::CheckpointPassive() {
  try {
    db_->exec("PRAGMA wal_checkpoint(PASSIVE)");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("WAL checkpoint of ", path_));
  }
  return absl::OkStatus();
}

}  // namespace backtest::db

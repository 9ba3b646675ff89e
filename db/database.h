// An open, migrated SQLite database: one connection in WAL mode with a busy timeout and foreign
// keys on. Owned by whoever opened it; not thread-safe — use one Database per thread (each opens
// its own connection to the same file).
#ifndef BACKTEST_DB_DATABASE_H_
#define BACKTEST_DB_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace SQLite {
class Database;
}

namespace backtest::db {

struct DatabaseOptions {
  // How long a statement waits for a lock held by another connection.
  int busy_timeout_ms = 5000;
  // Apply pending migrations (the server's main connection does; helpers only check the version).
  bool migrate = true;
};

class Database {
 public:
  // Opens (creating the file and its directory if needed) and migrates to the latest schema.
  // Errors: Unavailable when the file cannot be opened or written; FailedPrecondition when the
  // database was written by a newer backtestd (or, with migrate off, is older than this one);
  // Internal when a migration fails (it is rolled back, the database is left as it was).
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        const DatabaseOptions& options = {});

  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The schema version (user_version) of the open database.
  int schema_version() const { return schema_version_; }
  const std::string& path() const { return path_; }

  // The connection, for the stores of this thread.
  SQLite::Database& connection() { return *db_; }

  // Runs PRAGMA integrity_check; Internal with the first problem when it is not "ok".
  absl::Status IntegrityCheck();

 private:
  Database(std::string path, std::unique_ptr<SQLite::Database> db);
  absl::Status Configure(const DatabaseOptions& options);
  absl::Status Migrate(bool apply);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  int schema_version_ = 0;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_DATABASE_H_

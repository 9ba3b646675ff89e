// An open, migrated SQLite database: one connection in WAL mode with a busy timeout and foreign
// keys on. Owned by whoever opened it; not thread-safe — use one Database per thread (each opens
// its own connection to the same file).
#ifndef BACKTEST_DB_DATABASE_H_
#define BACKTEST_DB_DATABASE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace SQLite {
class Database;
}

namespace backtest::db {

class JobStore;  // job_store.h

struct DatabaseOptions {
  // How long a statement waits for a lock held by another connection.
  int busy_timeout_ms = 5000;
  // Apply pending migrations (the server's main connection does; helpers only check the version).
  bool migrate = true;
  // WAL pages past which a commit of this connection copies the WAL into the database and syncs
  // it (SQLite's automatic checkpoint; 0: never). The server checkpoints every second on a thread
  // of its own (JobManager), so this is only its fallback: at SQLite's default of 1,000 pages
  // (4 MB, a few jobs' results), a request's commit every few jobs paid for a checkpoint and an
  // fsync, 40 ms.
  int wal_autocheckpoint_pages = 16384;
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
  // A job store on this connection, kept with it: its statements are prepared once for the
  // connection's life rather than for each request that leases it (ConnectionPool).
  JobStore& jobs();

  // Calls `hook` after each commit of this connection with the number of pages now in the WAL
  // (sqlite3_wal_hook; replaces the automatic checkpoint of this connection).
  void OnWalCommit(std::function<void(int pages)> hook);

  // Runs `writes` (the writes of stores on this connection) in one commit: committed when it
  // returns OK, undone when it fails. Each store's own transaction becomes a savepoint of it
  // (WriteScope), so a store that fails inside undoes only its own writes.
  absl::Status InOneCommit(const std::function<absl::Status()>& writes);

  // Runs PRAGMA integrity_check; Internal with the first problem when it is not "ok".
  absl::Status IntegrityCheck();

  // Writes and commits one row (server_probe) to learn that the database takes writes now: the
  // readiness probe. Errors name why not (ResourceExhausted "disk full", Unavailable for a
  // read-only file or a lock held past the busy timeout, …).
  absl::Status ProbeWrite(int64_t now_ms);

  // Copies into the database file what of the WAL no reader still needs (PRAGMA
  // wal_checkpoint(PASSIVE): never waits for readers or writers).
  absl::Status CheckpointPassive();

 private:
  Database(std::string path, std::unique_ptr<SQLite::Database> db);
  absl::Status Configure(const DatabaseOptions& options);
  absl::Status Migrate(bool apply);

  // SQLite's busy handler: retries a locked database every 0.1 ms at first, then every 1 ms,
  // until busy_timeout_ms. (SQLite's own backs off to 1, 2, 5, 10, 15, 20… ms: a write that
  // meets another connection's commit of a millisecond waited 18–33 ms.)
  static int OnBusy(void* self, int tries);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<JobStore> jobs_;  // after db_: its statements go before the connection
  int schema_version_ = 0;
  int busy_timeout_ms_ = 0;
  std::function<void(int pages)> wal_hook_;
  std::chrono::steady_clock::time_point busy_since_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_DATABASE_H_

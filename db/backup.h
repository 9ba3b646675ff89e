// An online backup of a backtestd database through SQLite's backup API: a consistent copy taken
// while the server keeps reading and writing the database.
#ifndef BACKTEST_DB_BACKUP_H_
#define BACKTEST_DB_BACKUP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace backtest::db {

struct BackupOptions {
  // Pages copied per sqlite3_backup_step (4 KB each: 1,024 pages are 4 MB).
  int pages_per_step = 1024;
  // Pause between steps, leaving the disk and a core to the server.
  std::chrono::milliseconds pause{2};
  // How long to wait for the database's read lock (a writer recovering the WAL holds it briefly).
  int busy_timeout_ms = 10000;
  // Called after each step with the pages copied so far and the total (tests, progress).
  std::function<void(int64_t copied, int64_t total)> on_step;
  // Asked between steps; true stops the copy (Cancelled), e.g. on SIGTERM.
  std::function<bool()> should_stop;
};

// What a finished backup copied.
struct BackupReport {
  int64_t pages = 0;
  int64_t bytes = 0;  // the size of the copy
  int steps = 0;
  int schema_version = 0;  // user_version of the copy
  double copy_seconds = 0;    // sqlite3_backup from the snapshot's start to the last page
  double verify_seconds = 0;  // reopening the copy and PRAGMA integrity_check
};

// Copies the database at `db_path` to `target`, which holds the database as it was when the copy
// began (one read transaction spans all steps: in WAL mode it blocks no writer, and the steps
// never restart because a writer committed). The copy is written beside `target` under a hidden
// temporary name with mode 0600, switched to a rollback journal (one self-contained file), passes
// PRAGMA integrity_check and is then renamed over `target` and synced: `target` is never a
// partial copy. On any error the temporary file is removed and `target` is left as it was.
//
// Errors: NotFound when `db_path` does not exist; InvalidArgument when `target` is the database
// itself (or its -wal, -shm or -journal file) or a directory; PermissionDenied / NotFound when
// `target`'s directory is not writable / does not exist; ResourceExhausted when the disk is
// full; DataLoss when the copy fails integrity_check; Unavailable when the database stays locked
// past busy_timeout_ms; Cancelled when should_stop said so; Internal otherwise (the source is not
// a database, I/O errors).
absl::StatusOr<BackupReport> BackupDatabase(const std::string& db_path, const std::string& target,
                                            const BackupOptions& options = {});

}  // namespace backtest::db

#endif  // BACKTEST_DB_BACKUP_H_

#include "db/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/sqlite_status.h"

namespace backtest::db {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status StatusFromErrno(int err, absl::string_view context) {
  std::string text = absl::StrCat(context, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(text);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(text);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(text);
    default:
      return absl::InternalError(text);
  }
}

// The database exists and is a file; the target is neither the database nor one of its
// companion files (by path, or by identity when it exists: a hard link, a symlink), nor a folder.
absl::Status CheckPaths(const std::string& db_path, const std::string& target) {
  if (db_path.empty()) return absl::InvalidArgumentError("database path is empty");
  if (target.empty()) return absl::InvalidArgumentError("backup target path is empty");
  struct stat st;
  if (stat(db_path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("database ", db_path, " does not exist"));
    }
    return StatusFromErrno(errno, absl::StrCat("cannot read database ", db_path));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("database ", db_path, " is a directory"));
  }
  std::error_code ec;
  const fs::path db = fs::weakly_canonical(db_path, ec);
  const fs::path to = fs::weakly_canonical(target, ec);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    fs::path companion = db;
    companion += suffix;
    bool same = to == companion;
    if (!same && fs::exists(target, ec)) same = fs::equivalent(target, companion, ec);
    if (same) {
      return absl::InvalidArgumentError(absl::StrCat("backup target ", target, " is the database ",
                                                     db_path, suffix[0] ? "'s " : " itself",
                                                     suffix[0] ? suffix + 1 : "",
                                                     suffix[0] ? " file" : ""));
    }
  }
  if (fs::is_directory(target, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("backup target ", target, " is a directory"));
  }
  return absl::OkStatus();
}

// A file beside the target under a hidden temporary name (mode 0600), removed with SQLite's
// companion files when destroyed unless Keep() was called.
class TempCopy {
 public:
  static absl::StatusOr<std::unique_ptr<TempCopy>> Create(const std::string& target) {
    fs::path path(target);
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::string pattern = (dir / absl::StrCat(".", path.filename().string(), ".partial-XXXXXX"))
                              .string();
    int fd = mkstemp(pattern.data());
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) {
        return absl::NotFoundError(absl::StrCat("cannot write backup ", target, ": directory ",
                                                dir.string(), " does not exist"));
      }
      return StatusFromErrno(err, absl::StrCat("cannot write backup ", target, " in ",
                                               dir.string()));
    }
    // mkstemp makes it 0600 already; say so, since the copy holds token hashes.
    fchmod(fd, 0600);
    close(fd);
    return std::unique_ptr<TempCopy>(new TempCopy(std::move(pattern), std::move(dir)));
  }
  ~TempCopy() {
    if (kept_) return;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      unlink(absl::StrCat(path_, suffix).c_str());
    }
  }
  TempCopy(const TempCopy&) = delete;
  TempCopy& operator=(const TempCopy&) = delete;

  const std::string& path() const { return path_; }
  const fs::path& dir() const { return dir_; }
  void Keep() { kept_ = true; }

 private:
  TempCopy(std::string path, fs::path dir) : path_(std::move(path)), dir_(std::move(dir)) {}
  std::string path_;
  fs::path dir_;
  bool kept_ = false;
};

// One sqlite3_backup_step, retried while the source is busy (a writer recovering the WAL holds
// its read lock briefly) for up to `busy_timeout_ms`. Returns SQLite's result code.
int Step(sqlite3_backup* backup, int pages, int busy_timeout_ms, BackupReport& report) {
  const Clock::time_point start = Clock::now();
  for (;;) {
    const int rc = sqlite3_backup_step(backup, pages);
    ++report.steps;
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) return rc;
    if (SecondsSince(start) * 1000 >= busy_timeout_ms) return rc;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Runs sqlite3_backup from `src` (already inside its read transaction) into `dest`.
absl::Status RunBackup(SQLite::Database& src, SQLite::Database& dest, bool wal,
                       const BackupOptions& options, BackupReport& report) {
  sqlite3_backup* backup = sqlite3_backup_init(dest.getHandle(), "main", src.getHandle(), "main");
  if (backup == nullptr) {
    return StatusFromSqliteCode(sqlite3_extended_errcode(dest.getHandle()),
                                sqlite3_errmsg(dest.getHandle()), "cannot start the backup");
  }
  // Without WAL our read lock would keep every writer out between steps: copy in one step.
  const int pages = wal && options.pages_per_step > 0 ? options.pages_per_step : -1;
  int rc = SQLITE_OK;
  while ((rc = Step(backup, pages, options.busy_timeout_ms, report)) == SQLITE_OK) {
    if (options.on_step) {
      const int64_t total = sqlite3_backup_pagecount(backup);
      options.on_step(total - sqlite3_backup_remaining(backup), total);
    }
    if (options.should_stop && options.should_stop()) {
      sqlite3_backup_finish(backup);
      return absl::CancelledError("backup interrupted");
    }
    if (options.pause.count() > 0) std::this_thread::sleep_for(options.pause);
  }
  report.pages = sqlite3_backup_pagecount(backup);
  // finish reports a failed step's error on the destination connection; a source that stayed
  // busy is no error of the backup object, only the step's code says so.
  const int finished = sqlite3_backup_finish(backup);
  if (rc == SQLITE_DONE && finished == SQLITE_OK) return absl::OkStatus();
  if (finished != SQLITE_OK) {
    return StatusFromSqliteCode(sqlite3_extended_errcode(dest.getHandle()),
                                sqlite3_errmsg(dest.getHandle()), "backup failed");
  }
  return StatusFromSqliteCode(rc, sqlite3_errstr(rc), "backup failed");
}

// Copies `db_path` into the empty file `copy_path` from one read snapshot.
absl::Status CopyPages(const std::string& db_path, const std::string& copy_path,
                       const BackupOptions& options, BackupReport& report) {
  try {
    // Read-only: never creates the database, never checkpoints it on close.
    SQLite::Database src(db_path, SQLite::OPEN_READONLY, options.busy_timeout_ms);
    src.exec("PRAGMA temp_store=MEMORY");
    const bool wal = src.execAndGet("PRAGMA journal_mode").getString() == "wal";
    // The snapshot starts at the first read and lasts until the end: every step copies pages of
    // the same snapshot, so a commit by the server between steps does not restart the copy.
    src.exec("BEGIN");
    src.execAndGet("SELECT count(*) FROM sqlite_master");
    const Clock::time_point start = Clock::now();
    SQLite::Database dest(copy_path, SQLite::OPEN_READWRITE);
    // The temporary file is thrown away on failure: no rollback journal needed.
    dest.execAndGet("PRAGMA journal_mode=OFF");
    RETURN_IF_ERROR(RunBackup(src, dest, wal, options, report));
    report.copy_seconds = SecondsSince(start);
    src.exec("COMMIT");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, absl::StrCat("cannot back up database ", db_path));
  }
  return absl::OkStatus();
}

// Reopens the copy, makes it a rollback-journal database (the backup API copies the source's WAL
// flag; one self-contained file opens anywhere, even read-only) and checks it.
absl::Status VerifyCopy(const std::string& copy_path, BackupReport& report) {
  const Clock::time_point start = Clock::now();
  try {
    SQLite::Database copy(copy_path, SQLite::OPEN_READWRITE);
    copy.exec("PRAGMA temp_store=MEMORY");
    std::string mode = copy.execAndGet("PRAGMA journal_mode=DELETE").getString();
    if (mode != "delete") {
      return absl::InternalError(absl::StrCat("the copy kept journal mode ", mode));
    }
    std::string answer = copy.execAndGet("PRAGMA integrity_check").getString();
    if (answer != "ok") {
      return absl::DataLossError(absl::StrCat("the copy fails integrity_check: ", answer));
    }
    report.schema_version = copy.execAndGet("PRAGMA user_version").getInt();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot check the copy");
  }
  report.verify_seconds = SecondsSince(start);
  return absl::OkStatus();
}

absl::Status Sync(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, absl::StrCat("cannot open ", path));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return StatusFromErrno(err, absl::StrCat("cannot sync ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BackupReport> BackupDatabase(const std::string& db_path, const std::string& target,
                                            const BackupOptions& options) {
  RETURN_IF_ERROR(CheckPaths(db_path, target));
  ASSIGN_OR_RETURN(std::unique_ptr<TempCopy> copy, TempCopy::Create(target));
  BackupReport report;
  RETURN_IF_ERROR(CopyPages(db_path, copy->path(), options, report));
  RETURN_IF_ERROR(VerifyCopy(copy->path(), report));
  RETURN_IF_ERROR(Sync(copy->path(), O_RDONLY));
  struct stat st;
  if (stat(copy->path().c_str(), &st) == 0) report.bytes = st.st_size;
  if (rename(copy->path().c_str(), target.c_str()) != 0) {
    return StatusFromErrno(errno, absl::StrCat("cannot rename the copy to ", target));
  }
  copy->Keep();
  // The rename is durable once the directory is synced.
  RETURN_IF_ERROR(Sync(copy->dir().string(), O_RDONLY | O_DIRECTORY));
  return report;
}

}  // namespace backtest::db

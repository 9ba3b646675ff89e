#include "db/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Transaction.h"
#include "db/migrations.h"
#include "db/write_scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;

// SQLite's default VFS with one thing added: it counts how often a connection is refused the WAL
// write lock, the lock a writer then waits for in its busy handler. Registered as the default VFS
// while it lives, so the connections opened meanwhile use it; they must be closed before it is
// destroyed. One at a time. Thread-safe.
class WriteLockSpy {
 public:
  WriteLockSpy() : real_(sqlite3_vfs_find(nullptr)), vfs_(*real_) {
    active_ = this;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.zName = "write_lock_spy";
    vfs_.xOpen = &Open;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~WriteLockSpy() {
    sqlite3_vfs_unregister(&vfs_);
    active_ = nullptr;
  }
  WriteLockSpy(const WriteLockSpy&) = delete;
  WriteLockSpy& operator=(const WriteLockSpy&) = delete;

  int refusals() {
    std::lock_guard lock(mu_);
    return refusals_;
  }

  // Waits until the write lock has been refused `n` times in all; false if not within `timeout`.
  bool WaitForRefusals(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return refused_.wait_for(lock, timeout, [&] { return refusals_ >= n; });
  }

 private:
  // A file of this VFS: the default VFS's file, in the same allocation right after this header.
  struct File {
    sqlite3_file base;
    sqlite3_file* real;
  };
  static sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
    auto* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    int rc = active_->real_->xOpen(active_->real_, name, file->real, flags, out);
    file->base.pMethods = file->real->pMethods != nullptr ? &kMethods : nullptr;
    return rc;
  }

  static int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
    int rc = Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
    // Offset 0 is the WAL's write lock (WAL_WRITE_LOCK in SQLite's wal.c).
    if (rc == SQLITE_BUSY && offset == 0 && (flags & SQLITE_SHM_LOCK) &&
        (flags & SQLITE_SHM_EXCLUSIVE)) {
      {
        std::lock_guard lock(active_->mu_);
        ++active_->refusals_;
      }
      active_->refused_.notify_all();
    }
    return rc;
  }

  static const sqlite3_io_methods kMethods;
  static WriteLockSpy* active_;

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  std::mutex mu_;
  std::condition_variable refused_;
  int refusals_ = 0;
};

WriteLockSpy* WriteLockSpy::active_ = nullptr;

// Every method but xShmLock forwards to the default VFS's file as it is.
const sqlite3_io_methods WriteLockSpy::kMethods = {
    3,
    [](sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); },
    [](sqlite3_file* f, void* p, int n, sqlite3_int64 at) {
      return Real(f)->pMethods->xRead(Real(f), p, n, at);
    },
    [](sqlite3_file* f, const void* p, int n, sqlite3_int64 at) {
      return Real(f)->pMethods->xWrite(Real(f), p, n, at);
    },
    [](sqlite3_file* f, sqlite3_int64 size) {
      return Real(f)->pMethods->xTruncate(Real(f), size);
    },
    [](sqlite3_file* f, int flags) { return Real(f)->pMethods->xSync(Real(f), flags); },
    [](sqlite3_file* f, sqlite3_int64* size) {
      return Real(f)->pMethods->xFileSize(Real(f), size);
    },
    [](sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); },
    [](sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); },
    [](sqlite3_file* f, int* out) { return Real(f)->pMethods->xCheckReservedLock(Real(f), out); },
    [](sqlite3_file* f, int op, void* arg) {
      return Real(f)->pMethods->xFileControl(Real(f), op, arg);
    },
    [](sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); },
    [](sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); },
    [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
      return Real(f)->pMethods->xShmMap(Real(f), page, size, extend, out);
    },
    &WriteLockSpy::ShmLock,
    [](sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); },
    [](sqlite3_file* f, int delete_flag) {
      return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
    },
    [](sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
      return Real(f)->pMethods->xFetch(Real(f), at, n, out);
    },
    [](sqlite3_file* f, sqlite3_int64 at, void* p) {
      return Real(f)->pMethods->xUnfetch(Real(f), at, p);
    },
};

TEST(MigrationsTest, VersionsAreContiguousFromOne) {
  int expected = 1;
  for (const Migration& m : Migrations()) {
    EXPECT_EQ(m.version, expected++) << m.name;
  }
  EXPECT_EQ(LatestSchemaVersion(), expected - 1);
}

TEST(DatabaseTest, CreatesDirectoryAndMigratesAFreshFileInWalMode) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("nested/dir/backtest.db"));
  ASSERT_THAT(db, IsOk());
  EXPECT_EQ((*db)->schema_version(), LatestSchemaVersion());
  auto& conn = (*db)->connection();
  EXPECT_EQ(conn.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(conn.execAndGet("PRAGMA foreign_keys").getInt(), 1);
  for (const char* table : {"users", "tokens", "jobs", "job_events", "trace_chunks",
                            "trace_summaries", "run_reasons", "results", "presets"}) {
    EXPECT_TRUE(conn.tableExists(table)) << table;
  }
  EXPECT_FALSE(conn.tableExists("trace_rows"));
  EXPECT_EQ(conn.execAndGet("SELECT count(*) FROM sqlite_master WHERE type='index' AND "
                            "name IN ('trace_chunks_bar', 'trace_chunks_ts')")
                .getInt(),
            2);
  EXPECT_THAT((*db)->IntegrityCheck(), IsOk());
}

// Several stores' writes in one commit (a job's result and its run facts): all of them, or none
// when the caller fails; a store that fails inside undoes only its own writes (its transaction
// is a savepoint then), and one called alone still commits by itself.
TEST(DatabaseTest, InOneCommitCommitsTogetherAndAStoreFailingInsideUndoesOnlyItsOwn) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("b.db"));
  ASSERT_THAT(db, IsOk());
  SQLite::Database& conn = (*db)->connection();
  auto users = [&] {
    return conn.execAndGet("SELECT group_concat(name, ',') FROM (SELECT name FROM users ORDER BY "
                           "name)").getString();
  };
  auto add = [&](const char* name) {
    conn.exec(std::string("INSERT INTO users(name, is_staff, created_ms) VALUES('") + name +
              "', 0, 1)");
  };

  EXPECT_THAT((*db)->InOneCommit([&] {
    add("ann");
    {
      WriteScope store(conn);  // a store's own transaction, failing half way
      add("bob");
    }
    {
      WriteScope store(conn);
      add("cid");
      store.Commit();
    }
    return absl::OkStatus();
  }), IsOk());
  EXPECT_EQ(users(), "ann,cid");
  EXPECT_NE(sqlite3_get_autocommit(conn.getHandle()), 0);  // nothing left open

  EXPECT_THAT((*db)->InOneCommit([&] {
    WriteScope store(conn);
    add("dan");
    store.Commit();
    return absl::InternalError("the caller failed");
  }), StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(users(), "ann,cid");
  EXPECT_NE(sqlite3_get_autocommit(conn.getHandle()), 0);

  {
    WriteScope alone(conn);
    add("eve");
    alone.Commit();
  }
  EXPECT_EQ(users(), "ann,cid,eve");
}

TEST(DatabaseTest, ReopeningKeepsDataAndDoesNotMigrateTwice) {
  testing::TempDir dir;
  std::string path = dir.File("b.db");
  {
    auto db = Database::Open(path);
    ASSERT_THAT(db, IsOk());
    (*db)->connection().exec("INSERT INTO users(name, is_staff, created_ms) VALUES('ann', 1, 1)");
  }
  auto db = Database::Open(path);
  ASSERT_THAT(db, IsOk());
  EXPECT_EQ((*db)->connection().execAndGet("SELECT name FROM users").getString(), "ann");
}

// A version-3 database (job_events with `kind IN (…)`) keeps its events through migration 4,
// and the rebuilt table still refuses an unknown kind; migration 5 counts each old row as one
// event.
TEST(DatabaseTest, MigrationsFourAndFiveKeepJobEventsAndTheirKindCheck) {
  testing::TempDir dir;
  std::string path = dir.File("v3.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA foreign_keys=ON");
    for (const Migration& m : Migrations()) {
      if (m.version <= 3) raw.exec(m.sql);
    }
    raw.exec("PRAGMA user_version=3");
    raw.exec("INSERT INTO users(id, name, created_ms) VALUES(1, 'ann', 1)");
    raw.exec("INSERT INTO jobs(id, owner_id, status, params_json, created_ms) "
             "VALUES('j1', 1, 'finished', '{}', 1)");
    raw.exec("INSERT INTO job_events(job_id, seq, time_ms, kind, text) VALUES "
             "('j1', 1, 5, 'status', 'queued'), ('j1', 2, 6, 'log', 'hello')");
  }
  auto db = Database::Open(path);
  ASSERT_THAT(db, IsOk());
  EXPECT_EQ((*db)->schema_version(), LatestSchemaVersion());
  auto& conn = (*db)->connection();
  EXPECT_EQ(conn.execAndGet("SELECT group_concat(kind || ':' || text, ',') FROM "
                            "(SELECT kind, text FROM job_events WHERE job_id = 'j1' ORDER BY seq)")
                .getString(),
            "status:queued,log:hello");
  EXPECT_EQ(conn.execAndGet("SELECT sum(event_count) FROM job_events").getInt(), 2);
  EXPECT_FALSE(conn.tableExists("job_events_v4"));
  EXPECT_THROW(conn.exec("INSERT INTO job_events(job_id, seq, time_ms, kind) "
                         "VALUES('j1', 3, 7, 'bogus')"),
               SQLite::Exception);
  // Deleting the job still takes its events with it (the foreign key survived the rebuild).
  conn.exec("DELETE FROM jobs WHERE id = 'j1'");
  EXPECT_EQ(conn.execAndGet("SELECT count(*) FROM job_events").getInt(), 0);
  EXPECT_THAT((*db)->IntegrityCheck(), IsOk());
}

TEST(DatabaseTest, WalCommitHookSeesTheWalGrowAndAutomaticCheckpointsAreOff) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("w.db"), {.wal_autocheckpoint_pages = 0});
  ASSERT_THAT(db, IsOk());
  auto& conn = (*db)->connection();
  EXPECT_EQ(conn.execAndGet("PRAGMA wal_autocheckpoint").getInt(), 0);
  std::vector<int> pages;
  (*db)->OnWalCommit([&](int n) { pages.push_back(n); });
  conn.exec("INSERT INTO users(name, created_ms) VALUES('a', 1)");
  conn.exec("INSERT INTO users(name, created_ms) VALUES('b', 1)");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_GT(pages[0], 0);
  EXPECT_GT(pages[1], pages[0]);  // nothing checkpointed it meanwhile
  conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  conn.exec("INSERT INTO users(name, created_ms) VALUES('c', 1)");
  EXPECT_LT(pages.back(), pages[1]);
  // The default leaves SQLite's own checkpoint as a fallback, far past a job's writes.
  auto other = Database::Open(dir.File("w.db"));
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ((*other)->connection().execAndGet("PRAGMA wal_autocheckpoint").getInt(), 16384);
}

// A write that meets another connection's write lock waits in the busy handler and succeeds once
// the lock is released. The lock is released only after the write was refused it (an event, not a
// delay), so the write cannot have slipped in before: without a wait it would have failed.
TEST(DatabaseTest, AWriteWaitsForAnotherConnectionsLockAndSucceedsWhenItIsReleased) {
  WriteLockSpy spy;  // first: the connections below use it
  testing::TempDir dir;
  auto holder = Database::Open(dir.File("b.db"));
  ASSERT_THAT(holder, IsOk());
  auto waiter = Database::Open(dir.File("b.db"), {.busy_timeout_ms = 60000});
  ASSERT_THAT(waiter, IsOk());
  SQLite::Transaction tx((*holder)->connection(), SQLite::TransactionBehavior::IMMEDIATE);
  (*holder)->connection().exec("INSERT INTO users(name, created_ms) VALUES('held', 1)");
  std::string write_error = "did not run";
  std::thread write([&] {
    try {
      (*waiter)->connection().exec("INSERT INTO users(name, created_ms) VALUES('waited', 1)");
      write_error.clear();
    } catch (const SQLite::Exception& e) {
      write_error = e.what();
    }
  });
  const bool met_the_lock = spy.WaitForRefusals(1, std::chrono::seconds(60));
  tx.commit();
  write.join();
  ASSERT_TRUE(met_the_lock) << "the write never met the held lock";
  EXPECT_EQ(write_error, "") << "refused the lock, the write failed instead of waiting for it";
  EXPECT_EQ((*holder)->connection().execAndGet("SELECT group_concat(name) FROM users").getString(),
            "held,waited");
}

// While the lock stays held, the busy handler retries until the busy timeout, then gives up: the
// write fails with SQLITE_BUSY after more than one refusal (with no wait it would be one).
TEST(DatabaseTest, AWriteGivesUpAtTheBusyTimeout) {
  WriteLockSpy spy;
  testing::TempDir dir;
  auto holder = Database::Open(dir.File("b.db"));
  ASSERT_THAT(holder, IsOk());
  auto waiter = Database::Open(dir.File("b.db"), {.busy_timeout_ms = 50});
  ASSERT_THAT(waiter, IsOk());
  SQLite::Transaction tx((*holder)->connection(), SQLite::TransactionBehavior::IMMEDIATE);
  int code = SQLITE_OK;
  try {
    (*waiter)->connection().exec("INSERT INTO users(name, created_ms) VALUES('x', 1)");
  } catch (const SQLite::Exception& e) {
    code = e.getErrorCode();
  }
  EXPECT_EQ(code, SQLITE_BUSY);
  EXPECT_GT(spy.refusals(), 1);
  tx.commit();
  EXPECT_EQ((*holder)->connection().execAndGet("SELECT count(*) FROM users").getInt(), 0);
}

TEST(DatabaseTest, RefusesADatabaseFromANewerVersion) {
  testing::TempDir dir;
  std::string path = dir.File("newer.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA user_version=" + std::to_string(LatestSchemaVersion() + 1));
  }
  EXPECT_THAT(Database::Open(path),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("newer than this")));
}

TEST(DatabaseTest, UnwritablePathIsUnavailable) {
  if (geteuid() == 0) {
    // root ignores permissions; a path under a regular file can never be created.
    testing::TempDir dir;
    std::string file = dir.File("plain");
    FILE* f = fopen(file.c_str(), "w");
    fclose(f);
    EXPECT_THAT(Database::Open(file + "/sub/b.db"), StatusIs(absl::StatusCode::kUnavailable));
    return;
  }
  testing::TempDir dir;
  std::string locked = dir.File("locked");
  mkdir(locked.c_str(), 0500);
  EXPECT_THAT(Database::Open(locked + "/b.db"), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(DatabaseTest, WithoutMigrateAnOlderDatabaseIsRefused) {
  testing::TempDir dir;
  std::string path = dir.File("old.db");
  DatabaseOptions options;
  options.migrate = false;
  EXPECT_THAT(Database::Open(path, options), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace backtest::db

#include "db/database.h"

#include <sys/stat.h>

#include <thread>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Transaction.h"
#include "db/migrations.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;

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

// The busy handler waits for a lock held by another connection, and gives up at the timeout.
TEST(DatabaseTest, WaitsForAnotherWriterUntilTheBusyTimeout) {
  testing::TempDir dir;
  auto holder = Database::Open(dir.File("b.db"));
  ASSERT_THAT(holder, IsOk());
  auto waiter = Database::Open(dir.File("b.db"), {.busy_timeout_ms = 50});
  ASSERT_THAT(waiter, IsOk());
  {
    SQLite::Transaction tx((*holder)->connection(), SQLite::TransactionBehavior::IMMEDIATE);
    EXPECT_THROW((*waiter)->connection().exec("INSERT INTO users(name, created_ms) VALUES('x', 1)"),
                 SQLite::Exception);
    // Released meanwhile (on another thread), the lock is taken as soon as it is free.
    std::thread release([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      tx.commit();
    });
    auto retry = Database::Open(dir.File("b.db"), {.busy_timeout_ms = 5000});
    ASSERT_THAT(retry, IsOk());
    (*retry)->connection().exec("INSERT INTO users(name, created_ms) VALUES('y', 1)");
    release.join();
  }
  EXPECT_EQ((*holder)->connection().execAndGet("SELECT group_concat(name) FROM users").getString(),
            "y");
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

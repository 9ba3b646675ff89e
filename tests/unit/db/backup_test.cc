#include "db/backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/job_store.h"
#include "db/result_store.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// The names of the files in `dir`.
std::set<std::string> Files(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A result blob of `size` bytes that differs per job.
std::string Blob(int job, size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 31 + job * 7) % 251);
  return data;
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.File("backtest.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    auto users = UserStore::Create(db_.get());
    ASSERT_THAT(users, IsOk());
    auto user = (*users)->CreateUser("ann", /*is_staff=*/false);
    ASSERT_THAT(user, IsOk());
    auto token = (*users)->IssueToken(user->id, "test");
    ASSERT_THAT(token, IsOk());
    owner_id_ = user->id;
    token_ = token->token;
  }

  // Stores finished job `n` with its log and a result of `result_bytes`, in one transaction.
  void AddFinishedJob(Database& db, int n, size_t result_bytes = 64 * 1024) {
    JobStore jobs(db.connection());
    ResultStore results(db.connection());
    std::vector<EventRecord> events = {{.time_ms = n, .kind = "status", .text = "queued"}};
    const std::string id = absl::StrCat("job", n);
    ASSERT_THAT(jobs.Insert({.id = id, .owner_id = owner_id_, .params_json = "{}",
                             .created_ms = n},
                            events),
                IsOk());
    ASSERT_THAT(results.Save({.job_id = id, .format = kResultsFormatDeltas,
                              .digest = absl::StrCat("d", n), .data = Blob(n, result_bytes),
                              .created_ms = n}),
                IsOk());
    SQLite::Statement done(db.connection(),
                           "UPDATE jobs SET status = 'finished', finished_ms = ? WHERE id = ?");
    done.bind(1, static_cast<int64_t>(n));
    done.bind(2, id);
    ASSERT_EQ(done.exec(), 1);
  }

  ::backtest::testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  int64_t owner_id_ = 0;
  std::string token_;
};

TEST_F(BackupTest, CopyOpensPassesIntegrityAndHoldsTheData) {
  for (int n = 1; n <= 40; ++n) AddFinishedJob(*db_, n);
  const std::string target = dir_.File("backups/backtest-1.db");
  std::filesystem::create_directory(dir_.File("backups"));

  auto report = BackupDatabase(db_->path(), target, {.pages_per_step = 64});
  ASSERT_THAT(report, IsOk());
  EXPECT_GT(report->pages, 40 * 16);  // 40 results of 64 KB
  EXPECT_GT(report->steps, 10);
  EXPECT_EQ(report->bytes, static_cast<int64_t>(std::filesystem::file_size(target)));

  // Only the copy, private to its owner, and nothing left beside it.
  EXPECT_THAT(Files(dir_.File("backups")), UnorderedElementsAre("backtest-1.db"));
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  // One self-contained file: a rollback journal, not WAL.
  {
    SQLite::Database raw(target, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "delete");
  }

  auto copy = Database::Open(target, {.migrate = false});
  ASSERT_THAT(copy, IsOk());
  EXPECT_EQ((*copy)->schema_version(), db_->schema_version());
  EXPECT_EQ(report->schema_version, db_->schema_version());
  EXPECT_THAT((*copy)->IntegrityCheck(), IsOk());
  auto users = UserStore::Create(copy->get());
  ASSERT_THAT(users, IsOk());
  auto user = (*users)->Authenticate(token_);
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->name, "ann");
  JobStore jobs((*copy)->connection());
  ResultStore results((*copy)->connection());
  for (int n = 1; n <= 40; ++n) {
    const std::string id = absl::StrCat("job", n);
    auto job = jobs.Get(id);
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->status, JobStatus::kFinished);
    auto result = results.Load(id);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->data, Blob(n, 64 * 1024)) << id;
  }
}

TEST_F(BackupTest, ClosedDatabaseIsCopiedWithoutBeingWritten) {
  AddFinishedJob(*db_, 1);
  const std::string path = db_->path();
  db_.reset();  // the last connection: checkpointed, -wal and -shm gone
  const std::string before = ReadFile(path);
  auto report = BackupDatabase(path, dir_.File("copy.db"));
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(ReadFile(path), before);
  // A read-only connection to a WAL database makes an empty -wal and the -shm index, and cannot
  // remove them: the server's next start uses them.
  EXPECT_THAT(Files(dir_.path()), UnorderedElementsAre("backtest.db", "backtest.db-wal",
                                                       "backtest.db-shm", "copy.db"));
  EXPECT_EQ(std::filesystem::file_size(path + "-wal"), 0u);
  auto copy = Database::Open(dir_.File("copy.db"), {.migrate = false});
  ASSERT_THAT(copy, IsOk());
  EXPECT_THAT((*copy)->IntegrityCheck(), IsOk());
}

// The server keeps committing while the copy runs: the copy never waits for it nor restarts
// (one step per `pages_per_step` pages), and holds every job committed before it began.
TEST_F(BackupTest, WriterCommitsDuringTheCopyWhichHoldsItsStartingSnapshot) {
  for (int n = 1; n <= 30; ++n) AddFinishedJob(*db_, n);
  auto writer_db = Database::Open(db_->path());
  ASSERT_THAT(writer_db, IsOk());
  std::mutex mu;
  std::condition_variable changed;
  int committed = 30;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int n = 31; !stop; ++n) {
      AddFinishedJob(**writer_db, n, 8 * 1024);
      std::lock_guard lock(mu);
      committed = n;
      changed.notify_all();
    }
  });
  int committed_at_start = -1;
  int commits_while_copying = 0;
  BackupOptions options{.pages_per_step = 32};
  options.on_step = [&](int64_t, int64_t) {
    std::unique_lock lock(mu);
    if (committed_at_start < 0) committed_at_start = committed;
    // Each step waits for the writer to commit once more: it is never blocked by the copy.
    const int seen = committed;
    if (changed.wait_for(lock, std::chrono::seconds(10), [&] { return committed > seen; })) {
      ++commits_while_copying;
    }
  };
  auto report = BackupDatabase(db_->path(), dir_.File("copy.db"), options);
  stop = true;
  writer.join();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(commits_while_copying, report->steps - 1);  // every step but the last calls on_step
  EXPECT_GT(commits_while_copying, 5);
  // No restart: each step copied 32 new pages of the same snapshot.
  EXPECT_EQ(report->steps, (report->pages + 31) / 32);

  auto copy = Database::Open(dir_.File("copy.db"), {.migrate = false});
  ASSERT_THAT(copy, IsOk());
  EXPECT_THAT((*copy)->IntegrityCheck(), IsOk());
  const int copied = (*copy)->connection().execAndGet(
      "SELECT count(*) FROM jobs WHERE status = 'finished'").getInt();
  EXPECT_GE(copied, 30);
  EXPECT_LE(copied, committed_at_start);  // the snapshot was taken before the first step
  JobStore jobs((*copy)->connection());
  for (int n = 1; n <= copied; ++n) EXPECT_THAT(jobs.Get(absl::StrCat("job", n)), IsOk());
}

TEST_F(BackupTest, StopBetweenStepsIsCancelledAndLeavesNothing) {
  for (int n = 1; n <= 10; ++n) AddFinishedJob(*db_, n);
  const std::string target = dir_.File("copy.db");
  int steps = 0;
  BackupOptions options{.pages_per_step = 16};
  options.should_stop = [&] { return ++steps == 3; };
  EXPECT_THAT(BackupDatabase(db_->path(), target, options),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(steps, 3);
  EXPECT_THAT(Files(dir_.path()), UnorderedElementsAre("backtest.db", "backtest.db-wal",
                                                       "backtest.db-shm"));
}

// A database in rollback-journal mode (not what backtestd makes): copied in one step, since a
// read lock held between steps would keep its writers out; a writer's exclusive lock that outlasts
// the busy timeout is Unavailable.
TEST_F(BackupTest, RollbackJournalDatabaseIsCopiedInOneStepOrIsUnavailableWhileLocked) {
  const std::string path = dir_.File("plain.db");
  SQLite::Database plain(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  plain.exec("CREATE TABLE t(x BLOB); INSERT INTO t VALUES(zeroblob(200000))");
  auto report = BackupDatabase(path, dir_.File("copy.db"), {.pages_per_step = 4});
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->steps, 1);
  EXPECT_GT(report->pages, 40);

  plain.exec("BEGIN EXCLUSIVE");
  plain.exec("INSERT INTO t VALUES(1)");
  EXPECT_THAT(BackupDatabase(path, dir_.File("copy.db"), {.busy_timeout_ms = 50}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("locked")));
  plain.exec("ROLLBACK");
}

TEST_F(BackupTest, MissingDatabaseIsNotFoundAndNotCreated) {
  const std::string missing = dir_.File("nope.db");
  EXPECT_THAT(BackupDatabase(missing, dir_.File("copy.db")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
  EXPECT_FALSE(std::filesystem::exists(missing));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("copy.db")));
}

TEST_F(BackupTest, TargetThatIsTheDatabaseIsRefused) {
  AddFinishedJob(*db_, 1);
  const std::string db = db_->path();
  EXPECT_THAT(BackupDatabase(db, db),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is the database")));
  EXPECT_THAT(BackupDatabase(db, dir_.File("./backtest.db")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("itself")));
  EXPECT_THAT(BackupDatabase(db, db + "-wal"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("-wal")));
  std::filesystem::create_symlink(db, dir_.File("link.db"));
  EXPECT_THAT(BackupDatabase(db, dir_.File("link.db")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("itself")));
  std::filesystem::create_hard_link(db, dir_.File("hard.db"));
  EXPECT_THAT(BackupDatabase(db, dir_.File("hard.db")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("itself")));
  EXPECT_THAT(db_->IntegrityCheck(), IsOk());
  JobStore jobs(db_->connection());
  EXPECT_THAT(jobs.Get("job1"), IsOk());
}

TEST_F(BackupTest, UnwritableOrMissingTargetFolderIsAClearError) {
  EXPECT_THAT(BackupDatabase(db_->path(), dir_.File("no/such/dir/copy.db")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
  // /sys refuses new files even to root.
  EXPECT_THAT(BackupDatabase(db_->path(), "/sys/backtest-copy.db"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/sys")));
  EXPECT_THAT(BackupDatabase(db_->path(), dir_.path().string()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
}

TEST_F(BackupTest, FailedCopyLeavesTheOldBackupAndNoPartialFile) {
  const std::string target = dir_.File("copy.db");
  ASSERT_THAT(BackupDatabase(db_->path(), target), IsOk());
  const std::string old_copy = ReadFile(target);
  std::ofstream(dir_.File("text.db")) << "not a database, but long enough to have a header line\n";
  EXPECT_THAT(BackupDatabase(dir_.File("text.db"), target),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("not a database")));
  EXPECT_EQ(ReadFile(target), old_copy);
  for (const std::string& name : Files(dir_.path())) {
    EXPECT_THAT(name, ::testing::Not(HasSubstr("partial"))) << name;
  }
}

}  // namespace
}  // namespace backtest::db

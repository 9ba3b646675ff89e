// Retention: which jobs go (ended, oldest first, by age, per-owner count and size budget), which
// never do (queued, running), what goes with them, and that the freed pages leave the file.
#include "db/retention.h"

#include <memory>
#include <string>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/dataset_store.h"
#include "db/result_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::testing::ElementsAre;

constexpr int64_t kDay = 24 * 60 * 60 * 1000;
constexpr int64_t kNow = 1000 * kDay;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.File("r.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    conn().exec(
        "INSERT INTO users(id, name, created_ms) VALUES(1, 'ann', 1), (2, 'bob', 1)");
    retention_ = std::make_unique<Retention>(conn());
  }

  SQLite::Database& conn() { return db_->connection(); }
  int Count(const std::string& sql) { return conn().execAndGet(sql).getInt(); }

  // A job of `owner` that ended `age_days` ago (or is still queued / running), with an event, a
  // result and a trace chunk of `payload_bytes` each.
  void AddJob(const std::string& id, int owner, const std::string& status, int64_t age_days,
              int payload_bytes = 16) {
    const int64_t end = kNow - age_days * kDay;
    const bool ended = status != "queued" && status != "running";
    SQLite::Statement job(conn(),
                          "INSERT INTO jobs(id, owner_id, status, params_json, created_ms, "
                          "finished_ms) VALUES(?, ?, ?, '{}', ?, ?)");
    job.bind(1, id);
    job.bind(2, owner);
    job.bind(3, status);
    job.bind(4, end - 1000);
    if (ended) job.bind(5, end);
    job.exec();
    const std::string blob(payload_bytes, 'x');
    SQLite::Statement event(conn(),
                            "INSERT INTO job_events(job_id, seq, time_ms, kind, payload) "
                            "VALUES(?, 1, 0, 'log', ?)");
    event.bind(1, id);
    event.bindNoCopy(2, blob.data(), static_cast<int>(blob.size()));
    event.exec();
    SQLite::Statement result(conn(),
                             "INSERT INTO results(job_id, format, digest, data, created_ms) "
                             "VALUES(?, 3, 'd', ?, 0)");
    result.bind(1, id);
    result.bindNoCopy(2, blob.data(), static_cast<int>(blob.size()));
    result.exec();
    SQLite::Statement chunk(conn(),
                            "INSERT INTO trace_chunks(job_id, first_seq, last_seq, row_count, "
                            "min_bar, max_bar, min_ts, max_ts, data) "
                            "VALUES(?, 1, 1, 1, 0, 0, 0, 0, ?)");
    chunk.bind(1, id);
    chunk.bindNoCopy(2, blob.data(), static_cast<int>(blob.size()));
    chunk.exec();
  }

  std::vector<std::string> Jobs() {
    std::vector<std::string> ids;
    SQLite::Statement q(conn(), "SELECT id FROM jobs ORDER BY id");
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    return ids;
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Retention> retention_;
};

TEST_F(RetentionTest, ANewDatabaseGivesFreedPagesBack) {
  auto use = retention_->Pages();
  ASSERT_THAT(use, IsOk());
  EXPECT_TRUE(use->incremental_vacuum);
}

TEST_F(RetentionTest, EndedJobsOlderThanKeepDaysGoWithEverythingTheyOwn) {
  AddJob("a-old-finished", 1, "finished", 40);
  AddJob("b-old-failed", 1, "failed", 31);
  AddJob("c-old-cancelled", 2, "cancelled", 35);
  AddJob("d-young", 1, "finished", 29);
  AddJob("e-old-queued", 1, "queued", 90);
  AddJob("f-old-running", 2, "running", 90);

  auto report = retention_->Run({.keep_days = 30}, kNow);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->jobs_by_age, 3);
  EXPECT_THAT(Jobs(), ElementsAre("d-young", "e-old-queued", "f-old-running"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM job_events"), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM results"), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trace_chunks"), 3);
}

TEST_F(RetentionTest, SmallTransactionsRemoveEveryMatchingJob) {
  for (int i = 0; i < 47; ++i) AddJob(absl::StrCat("old", 100 + i), 1, "finished", 50);
  AddJob("young", 1, "finished", 1);
  auto report = retention_->Run({.keep_days = 7, .jobs_per_transaction = 5}, kNow);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->jobs_by_age, 47);
  EXPECT_THAT(Jobs(), ElementsAre("young"));
}

TEST_F(RetentionTest, AnOwnerKeepsTheNewestOfTheirEndedJobs) {
  for (int i = 0; i < 5; ++i) AddJob(absl::StrCat("ann", i), 1, "finished", 10 - i);
  AddJob("ann-running", 1, "running", 20);
  AddJob("bob0", 2, "finished", 30);
  AddJob("bob1", 2, "finished", 20);

  auto report = retention_->Run({.max_jobs_per_owner = 2}, kNow);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->jobs_by_owner_count, 3);
  // ann's two newest ended jobs (ended 7 and 6 days ago) and her running one; bob is within.
  EXPECT_THAT(Jobs(), ElementsAre("ann-running", "ann3", "ann4", "bob0", "bob1"));
}

TEST_F(RetentionTest, TheSizeBudgetRemovesTheOldestUntilItFitsAndTheFileShrinks) {
  for (int i = 0; i < 30; ++i) AddJob(absl::StrCat("j", 100 + i), 1, "finished", 60 - i, 64 << 10);
  AddJob("running", 1, "running", 90, 64 << 10);
  auto before = retention_->Pages();
  ASSERT_THAT(before, IsOk());
  const int64_t budget = before->live_bytes() / 3;

  auto report = retention_->Run({.max_db_bytes = budget, .jobs_per_transaction = 4}, kNow);
  ASSERT_THAT(report, IsOk());
  EXPECT_GT(report->jobs_by_size, 0);
  EXPECT_LE(report->live_bytes_after, budget);
  // The oldest went first: what is left is the newest ended jobs and the running one.
  std::vector<std::string> left = Jobs();
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.back(), "running");
  EXPECT_EQ(left[left.size() - 2], "j129");
  EXPECT_EQ(static_cast<int>(left.size()), 31 - report->jobs_by_size);
  // The freed pages left the file.
  EXPECT_GT(report->pages_vacuumed, 0);
  EXPECT_LT(report->file_bytes_after, report->file_bytes_before / 2);
  auto after = retention_->Pages();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->free_pages, 0);
  EXPECT_THAT(db_->IntegrityCheck(), IsOk());
}

TEST_F(RetentionTest, ABudgetThatOnlyRunningJobsExceedRemovesNothingElse) {
  AddJob("running", 1, "running", 90, 256 << 10);
  AddJob("queued", 1, "queued", 90, 256 << 10);
  auto report = retention_->Run({.max_db_bytes = 4096}, kNow);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->jobs_removed(), 0);
  EXPECT_THAT(Jobs(), ElementsAre("queued", "running"));
}

TEST_F(RetentionTest, ADatasetGoesWithTheLastJobReferringToIt) {
  AddJob("old", 1, "finished", 40);
  AddJob("young", 1, "finished", 1);
  DatasetStore datasets(conn());
  auto shared = datasets.Save({.hash = "shared", .source = "file:///d", .symbol = "EURUSD",
                               .timeframe = "H1", .first_time = 1, .last_time = 2, .bars = 2,
                               .data = "c", .created_ms = 1});
  auto own = datasets.Save({.hash = "own", .source = "file:///d", .symbol = "XAUUSD",
                            .timeframe = "H1", .first_time = 1, .last_time = 2, .bars = 2,
                            .data = "c", .created_ms = 1});
  ASSERT_THAT(shared, IsOk());
  ASSERT_THAT(own, IsOk());
  conn().exec(absl::StrCat("INSERT INTO job_datasets(job_id, position, dataset_id) VALUES "
                           "('old', 0, ", *shared, "), ('old', 1, ", *own, "), ('young', 0, ",
                           *shared, ")"));

  ASSERT_THAT(retention_->Run({.keep_days = 30}, kNow), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM datasets WHERE hash = 'shared'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM datasets WHERE hash = 'own'"), 0);
}

TEST_F(RetentionTest, APassStopsBetweenTransactionsWhenAsked) {
  for (int i = 0; i < 20; ++i) AddJob(absl::StrCat("old", 100 + i), 1, "finished", 50);
  int asked = 0;
  auto report = retention_->Run({.keep_days = 7, .jobs_per_transaction = 3}, kNow,
                                [&] { return ++asked <= 2; });
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->stopped);
  EXPECT_EQ(report->jobs_by_age, 6);  // two transactions of three
  EXPECT_EQ(Jobs().size(), 14u);
}

TEST_F(RetentionTest, NoPolicyRemovesNothing) {
  AddJob("old", 1, "finished", 4000);
  auto report = retention_->Run({}, kNow);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->jobs_removed(), 0);
  EXPECT_THAT(Jobs(), ElementsAre("old"));
}

}  // namespace
}  // namespace backtest::db

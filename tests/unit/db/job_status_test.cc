// JobStatus and the schema agree: the five names are exactly what the jobs table's CHECK allows,
// each reads back to its status, and nothing else parses.
#include "db/job_status.h"

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/job_store.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;

TEST(JobStatusTest, NamesParseBackAndNothingElseDoes) {
  for (JobStatus status : kJobStatuses) {
    EXPECT_EQ(ParseJobStatus(JobStatusName(status)), status) << JobStatusName(status);
  }
  for (absl::string_view other : {"", "Queued", "queued ", "done", "error", "cancel"}) {
    EXPECT_FALSE(ParseJobStatus(other).has_value()) << other;
  }
  EXPECT_FALSE(IsFinal(JobStatus::kQueued));
  EXPECT_FALSE(IsFinal(JobStatus::kRunning));
  EXPECT_TRUE(IsFinal(JobStatus::kFinished));
  EXPECT_TRUE(IsFinal(JobStatus::kFailed));
  EXPECT_TRUE(IsFinal(JobStatus::kCancelled));
}

TEST(JobStatusTest, TheSchemaAllowsExactlyTheseNames) {
  backtest::testing::TempDir dir;
  auto db = Database::Open(dir.File("b.db"));
  ASSERT_THAT(db, IsOk());
  SQLite::Database& c = (*db)->connection();
  c.exec("INSERT INTO users(id, name, is_staff, created_ms) VALUES(1, 'ann', 0, 1)");
  auto insert = [&](const std::string& id, absl::string_view status) {
    c.exec(absl::StrCat("INSERT INTO jobs(id, owner_id, status, params_json, created_ms) "
                        "VALUES('", id, "', 1, '", status, "', '{}', 1)"));
  };
  JobStore store(c);
  for (JobStatus status : kJobStatuses) {
    const std::string id = absl::StrCat("job-", JobStatusName(status));
    EXPECT_NO_THROW(insert(id, JobStatusName(status))) << JobStatusName(status);
    auto job = store.Get(id);
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->status, status);
  }
  EXPECT_THROW(insert("job-done", "done"), SQLite::Exception);
}

}  // namespace
}  // namespace backtest::db

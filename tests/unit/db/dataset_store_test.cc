// Datasets: stored once per hash, offered as candidates, pinned while a job runs, referred to by
// results, and removed with the last reference.
#include "db/dataset_store.h"

#include <memory>

#include "SQLiteCpp/Database.h"
#include "db/database.h"
#include "db/result_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;

class DatasetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.File("d.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    conn().exec(
        "INSERT INTO users(id, name, created_ms) VALUES(1, 'ann', 1);"
        "INSERT INTO jobs(id, owner_id, status, params_json, created_ms) VALUES"
        "('j1', 1, 'running', '{}', 1), ('j2', 1, 'running', '{}', 2), "
        "('j3', 1, 'running', '{}', 3)");
    store_ = std::make_unique<DatasetStore>(conn());
    results_ = std::make_unique<ResultStore>(conn());
  }

  SQLite::Database& conn() { return db_->connection(); }
  int Count(const std::string& sql) { return conn().execAndGet(sql).getInt(); }

  DatasetRecord Record(const std::string& hash, int64_t used_ms) {
    return {.hash = hash, .source = "file:///data", .symbol = "EURUSD", .timeframe = "H1",
            .first_time = 100, .last_time = 200, .bars = 2, .data = "candles " + hash,
            .created_ms = used_ms};
  }

  absl::Status SaveResult(const std::string& job, std::vector<int64_t> datasets) {
    return results_->Save({.job_id = job, .format = kResultsFormatDatasets, .digest = "d",
                           .data = "r", .created_ms = 10},
                          datasets);
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<DatasetStore> store_;
  std::unique_ptr<ResultStore> results_;
};

TEST_F(DatasetStoreTest, OneRowPerHashAndTheLatestUsedAreTheCandidates) {
  auto a = store_->Save(Record("aaa", 5));
  auto b = store_->Save(Record("bbb", 6));
  auto again = store_->Save(Record("aaa", 7));  // the same content again: marked used
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, *a);
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 2);
  auto candidates = store_->Candidates("file:///data", "EURUSD", "H1", 5);
  ASSERT_THAT(candidates, IsOk());
  ASSERT_EQ(candidates->size(), 2u);
  EXPECT_EQ((*candidates)[0].hash, "aaa");
  EXPECT_EQ((*candidates)[1].hash, "bbb");
  auto one = store_->Candidates("file:///data", "EURUSD", "H1", 1);
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->size(), 1u);
  auto other = store_->Candidates("file:///data", "EURUSD", "M1", 5);
  ASSERT_THAT(other, IsOk());
  EXPECT_TRUE(other->empty());
}

TEST_F(DatasetStoreTest, ResultsReferToDatasetsWhichGoWithTheLastReference) {
  auto a = store_->Save(Record("aaa", 5));
  auto b = store_->Save(Record("bbb", 5));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(SaveResult("j1", {*a, *b}), IsOk());
  ASSERT_THAT(SaveResult("j2", {*a}), IsOk());
  auto of_j1 = store_->OfResult("j1");
  ASSERT_THAT(of_j1, IsOk());
  ASSERT_EQ(of_j1->size(), 2u);
  EXPECT_EQ((*of_j1)[0].hash, "aaa");
  EXPECT_EQ((*of_j1)[1].data, "candles bbb");
  conn().exec("DELETE FROM jobs WHERE id = 'j1'");
  EXPECT_EQ(Count("SELECT count(*) FROM datasets WHERE hash = 'aaa'"), 1);  // j2 refers to it
  EXPECT_EQ(Count("SELECT count(*) FROM datasets WHERE hash = 'bbb'"), 0);
  conn().exec("DELETE FROM jobs WHERE id = 'j2'");
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 0);
  // A result cannot refer to a dataset that is not there.
  EXPECT_THAT(SaveResult("j3", {*a}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Count("SELECT count(*) FROM results"), 0);  // nothing of it stored
}

// A result stored before its digest was known (it came after it: ResultDigestEvent) gets it.
TEST_F(DatasetStoreTest, AResultStoredWithoutItsDigestGetsItLater) {
  auto a = store_->Save(Record("aaa", 5));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(results_->Save({.job_id = "j1", .format = kResultsFormatDatasets,
                              .digest = std::string(kDigestPending), .data = "r", .created_ms = 10},
                             std::vector<int64_t>{*a}),
              IsOk());
  const std::string digest(64, 'e');
  EXPECT_THAT(results_->SetDigest("j1", digest), IsOk());
  auto loaded = results_->Load("j1");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->digest, digest);
  EXPECT_EQ(loaded->data, "r");
  EXPECT_THAT(results_->SetDigest("j2", digest), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DatasetStoreTest, APinKeepsADatasetForARunningJobUntilItsResultOrItsEnd) {
  auto a = store_->Save(Record("aaa", 5));
  auto b = store_->Save(Record("bbb", 5));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(SaveResult("j1", {*a}), IsOk());
  ASSERT_THAT(SaveResult("j2", {*b}), IsOk());
  // j3 runs with both offered; the jobs that stored them go meanwhile.
  const int64_t offered[] = {*a, *b};
  ASSERT_THAT(store_->Pin("j3", offered), IsOk());
  conn().exec("DELETE FROM jobs WHERE id IN ('j1', 'j2')");
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 2);
  // Its result refers to one; the other goes with the pins, which the result drops.
  ASSERT_THAT(SaveResult("j3", {*b}), IsOk());
  EXPECT_EQ(Count("SELECT count(*) FROM job_datasets WHERE position < 0"), 0);
  EXPECT_EQ(conn().execAndGet("SELECT group_concat(hash) FROM datasets").getString(), "bbb");
  // A job that ends without a result unpins: what only it held goes.
  auto c = store_->Save(Record("ccc", 6));
  ASSERT_THAT(c, IsOk());
  conn().exec("INSERT INTO jobs(id, owner_id, status, params_json, created_ms) "
              "VALUES('j4', 1, 'running', '{}', 4)");
  const int64_t c_only[] = {*c};
  ASSERT_THAT(store_->Pin("j4", c_only), IsOk());
  // (a dataset stored by a job whose result never came has no reference but the pin)
  ASSERT_THAT(store_->Unpin("j4"), IsOk());
  EXPECT_EQ(Count("SELECT count(*) FROM datasets WHERE hash = 'ccc'"), 0);
  EXPECT_THAT(store_->Pin("nope", c_only), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace backtest::db

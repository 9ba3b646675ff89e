#include "db/reason_store.h"

#include "SQLiteCpp/Database.h"
#include "db/database.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_fixture.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::IsEmpty;

class ReasonStoreTest : public testing::StoreFixture<ReasonStore> {
 protected:
  void SetUp() override {
    OpenSeeded(
        "INSERT INTO users(id, name, is_staff, created_ms) VALUES(1, 'ann', 0, 1);"
        "INSERT INTO jobs(id, owner_id, status, params_json, created_ms) VALUES"
        "('job1', 1, 'finished', '{}', 1), ('job2', 1, 'finished', '{}', 1)");
  }
};

TEST_F(ReasonStoreTest, SavesAndListsInOrder) {
  std::vector<ReasonRecord> reasons = {
      {"filter_strength", 340, {{"EURUSD", 5, 1000}, {"GBPUSD", 9, 1240}}, "too weak"},
      {"exit_target", 3, {{"EURUSD", 77, 5000}}, "target hit"},
      {"filter_ema", 12, {}, "wrong side of the EMA"},
  };
  ASSERT_THAT(store_->Save("job1", reasons), IsOk());
  auto listed = store_->List("job1");
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(*listed, reasons);
  EXPECT_THAT(*store_->List("job2"), IsEmpty());
  EXPECT_THAT(*store_->List("nope"), IsEmpty());
}

TEST_F(ReasonStoreTest, SaveReplaces) {
  std::vector<ReasonRecord> first = {{"a", 1, {}, ""}, {"b", 2, {}, ""}};
  std::vector<ReasonRecord> second = {{"c", 3, {{"X", 1, 2}}, "c"}};
  ASSERT_THAT(store_->Save("job1", first), IsOk());
  ASSERT_THAT(store_->Save("job1", second), IsOk());
  EXPECT_EQ(*store_->List("job1"), second);
}

TEST_F(ReasonStoreTest, ErrorsLeaveTheOldReasons) {
  std::vector<ReasonRecord> first = {{"a", 1, {}, ""}};
  ASSERT_THAT(store_->Save("job1", first), IsOk());
  std::vector<ReasonRecord> twice = {{"b", 1, {}, ""}, {"b", 2, {}, ""}};
  EXPECT_THAT(store_->Save("job1", twice), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(*store_->List("job1"), first);
  EXPECT_THAT(store_->Save("nope", first), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ReasonStoreTest, ReadsBareBarIndexSamples) {
  db_->connection().exec(
      "INSERT INTO run_reasons(job_id, position, reason, count, sample_bars_json, description) "
      "VALUES('job2', 0, 'x', 2, '[4, {\"bar_index\": 7}, \"junk\"]', '')");
  auto listed = store_->List("job2");
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_EQ((*listed)[0].samples.size(), 2u);
  EXPECT_EQ((*listed)[0].samples[0].bar_index, 4);
  EXPECT_EQ((*listed)[0].samples[1].bar_index, 7);
}

}  // namespace
}  // namespace backtest::db
